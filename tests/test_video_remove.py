"""photomend.remove_video / video_removal: holes filled from the frames that saw behind them
(known answers that can fail), masks from a file, a folder or tracked detections, bad input."""

from __future__ import annotations

from fractions import Fraction

import cv2
import numpy as np
import pytest

from photomend.errors import InputError, MaskError
from photomend.metrics import masked_psnr
from photomend.video_removal.fill import diffuse, static_estimate
from photomend.video_removal.stream import FillStats, clip_background, fill_frames


def texture(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A smooth random texture (survives H.264 well) with some stripes."""
    rng = np.random.default_rng(seed)
    t = cv2.resize(rng.random((h // 6 + 2, w // 6 + 2, 3)).astype(np.float32), (w, h),
                   interpolation=cv2.INTER_CUBIC)
    yy, xx = np.mgrid[0:h, 0:w]
    t += 0.15 * (np.sin(xx / 4.0) * np.cos(yy / 6.0))[..., None]
    return np.clip(t, 0.05, 0.95).astype(np.float32)


def object_clip(n: int = 16, h: int = 48, w: int = 64, *, pan: float = 0.0, gain: float = 0.0):
    """(frames, masks, truths): a red block walking right over a textured background, which
    pans ``pan`` px per frame and changes brightness by ``gain``."""
    big = texture(h, w + int(abs(pan) * n) + 4)
    frames, masks, truths = [], [], []
    for i in range(n):
        m = np.float32([[1, 0, pan * i], [0, 1, 0.25 * pan * i]])
        bg = cv2.warpAffine(big, m, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                            borderMode=cv2.BORDER_REFLECT)
        bg = np.clip(bg * (1 + gain * np.sin(i / 2)), 0, 1).astype(np.float32)
        mask = np.zeros((h, w), bool)
        x0 = 4 + i * (w - 16) // n
        mask[h // 4:h // 4 + h // 2, x0:x0 + 10] = True
        f = bg.copy()
        f[mask] = (0.9, 0.1, 0.1)
        frames.append(f)
        masks.append(mask)
        truths.append(bg)
    return frames, masks, truths


def psnrs(outs, truths, masks):
    return [masked_psnr(o, t, m, dilate=0) for o, t, m in zip(outs, truths, masks, strict=True)]


# --- the fill ------------------------------------------------------------------------------
def test_still_camera_object_removed_exactly():
    frames, masks, truths = object_clip()
    stats = FillStats()
    outs = list(fill_frames(zip(frames, masks), radius=6, stats=stats))
    assert len(outs) == len(frames)
    assert min(psnrs(outs, truths, masks)) > 35
    assert stats.static_frames == len(frames) and stats.invented == 0


def test_still_camera_brightness_change_leaves_no_seam():
    frames, masks, truths = object_clip(gain=0.06)
    outs = list(fill_frames(zip(frames, masks), radius=6))
    assert np.median(psnrs(outs, truths, masks)) > 35


def noisy_clip(n: int = 24, h: int = 96, w: int = 128, sigma: float = 0.03, seed: int = 1):
    """object_clip with sensor noise of ``sigma`` on every frame (the truth: noiseless)."""
    frames, masks, truths = object_clip(n=n, h=h, w=w)
    rng = np.random.default_rng(seed)
    noisy = [np.where(m[..., None], f, np.clip(f + rng.normal(0, sigma, f.shape), 0, 1))
             .astype(np.float32) for f, m in zip(frames, masks, strict=True)]
    return noisy, masks, truths


def nearest_copy(frames, masks, i):
    """Frame i with each hole pixel copied from the nearest frame where it is visible."""
    out = frames[i].copy()
    todo = masks[i].copy()
    for d in sorted(range(-len(frames), len(frames)), key=abs):
        k = i + d
        if d == 0 or not 0 <= k < len(frames):
            continue
        take = todo & ~masks[k]
        out[take] = frames[k][take]
        todo &= ~take
    return out


def test_still_camera_background_beats_one_frame_copy_on_noise():
    # the clip's background (a median of many frames) carries almost none of one frame's
    # noise: closer to the noiseless truth than a copy from the nearest frame, and steadier
    frames, masks, truths = noisy_clip()
    bg = clip_background(zip(frames, masks))
    stats = FillStats()
    outs = list(fill_frames(zip(frames, masks), radius=6, background=bg, stats=stats))
    copies = [nearest_copy(frames, masks, i) for i in range(len(frames))]
    ours, one = np.mean(psnrs(outs, truths, masks)), np.mean(psnrs(copies, truths, masks))
    assert one < 32 and ours > one + 8 and ours > 38, (ours, one)

    # where both frames are filled, the fill hardly changes (copies: other frames' noise)
    def change(seq):
        return np.mean([np.abs(b - a)[ma & mb].mean() for a, b, ma, mb
                        in zip(seq, seq[1:], masks, masks[1:], strict=False)])

    assert change(outs) < 0.25 * change(copies)
    assert stats.copied == sum(int(m.sum()) for m in masks) and stats.invented == 0


def test_still_camera_background_follows_the_frames_light():
    # the lighting changes by up to 6 % from frame to frame: the clip's background, a median,
    # is in none of them; the fill is put in each frame's own light
    frames, masks, truths = object_clip(h=96, w=128, gain=0.06)
    bg = clip_background(zip(frames, masks))
    outs = list(fill_frames(zip(frames, masks), radius=6, background=bg))
    raw = [np.where(m[..., None], bg.rgb, f) for f, m in zip(frames, masks, strict=True)]
    assert np.median(psnrs(raw, truths, masks)) < 34
    assert np.median(psnrs(outs, truths, masks)) > 45


def test_still_camera_something_parked_since_is_shown():
    # a box is put down in frame 16 of 24 and stays (not masked): the clip's background (a
    # median) does not show it, but the walker passing in front of it later must not cut a
    # window through it to the old ground
    frames, masks, truths = object_clip(n=24, h=96, w=128)
    for i in range(16, 24):
        truths[i][12:84, 78:124] = (0.2, 0.7, 0.3)
        frames[i] = np.where(masks[i][..., None], frames[i], truths[i])
    bg = clip_background(zip(frames, masks))
    assert np.abs(bg.rgb[40, 100] - (0.2, 0.7, 0.3)).max() > 0.2  # the median: the old ground
    stats = FillStats()  # (camera="static": "auto" takes the box's arrival for a moving one)
    outs = list(fill_frames(zip(frames, masks), radius=6, background=bg, camera="static",
                            stats=stats))
    assert stats.static_frames == 24
    for i in range(18, 24):
        assert masked_psnr(outs[i], truths[i], masks[i], dilate=0) > 40, i


def test_light_gain_ignores_outliers_and_excluded():
    from photomend.video_removal.fill import light_gain

    ref = texture(48, 64)
    frame = ref * np.float32(1.05)
    hole = np.zeros((48, 64), bool)
    hole[10:30, 20:40] = True
    frame[hole] = 0.0  # the object: excluded
    frame[5:9, 50:60] = 1.0  # a passer-by the mask missed: an outlier
    g = light_gain(frame, ref, hole, sigma=6)
    assert np.abs(g[hole] - 1.05).max() < 0.01


def test_moving_camera_follows_the_flow():
    frames, masks, truths = object_clip(n=14, h=96, w=128, pan=1.5)
    stats = FillStats()
    outs = list(fill_frames(zip(frames, masks), radius=8, stats=stats))
    assert stats.moving_frames == len(frames)
    got = np.median(psnrs(outs, truths, masks))
    per_frame = np.median([masked_psnr(cv2.inpaint((f * 255).astype(np.uint8),
                                                   m.astype(np.uint8), 3,
                                                   cv2.INPAINT_TELEA) / 255.0, t, m, dilate=0)
                           for f, m, t in zip(frames, masks, truths, strict=True)])
    assert got > 28 and got > per_frame + 5


def test_outside_the_mask_untouched_and_empty_masks_copied():
    frames, masks, _ = object_clip(n=8)
    masks[3] = np.zeros_like(masks[3])
    outs = list(fill_frames(zip(frames, masks), radius=3))
    for f, m, o in zip(frames, masks, outs, strict=True):
        assert np.array_equal(o[~m], f[~m])
    assert outs[3] is frames[3] or np.array_equal(outs[3], frames[3])


def test_unseen_region_invented_once_and_carried():
    frames, masks, _ = object_clip(n=10)
    logo = np.zeros_like(masks[0])
    logo[2:10, 40:56] = True  # never visible: the image engine, once, then carried
    stats = FillStats()
    outs = list(fill_frames(zip(frames, [m | logo for m in masks]), radius=4, stats=stats))
    assert len(stats.key_frames) == 1 and stats.invented == int(logo.sum())
    for o in outs[1:]:
        assert np.abs(o[logo] - outs[0][logo]).max() < 1e-6  # no flicker


def test_whole_frame_mask():
    frames, masks, truths = object_clip(n=8)
    masks[4] = np.ones_like(masks[4])  # one frame hidden whole: the others show it
    outs = list(fill_frames(zip(frames, masks), radius=3))
    assert masked_psnr(outs[4], truths[4], masks[4], dilate=0) > 35
    with pytest.raises(MaskError, match="whole frame"):
        list(fill_frames(((f, np.ones_like(m)) for f, m in zip(frames, masks, strict=True)),
                         radius=3))


def test_clip_background_and_helpers():
    frames, masks, truths = object_clip()
    bg = clip_background(zip(frames, masks))
    assert bg is not None and bg.seen.all()
    assert masked_psnr(bg.rgb, truths[0], np.ones_like(masks[0]), dilate=0) > 40
    moving = object_clip(n=10, h=64, w=96, pan=3.0)
    assert clip_background(zip(moving[0], moving[1])) is None
    v, seen = static_estimate(np.array([0]), np.array([0]), [np.ones((2, 2, 3))] * 3,
                              [np.ones((2, 2), bool)] * 3)
    assert not seen[0]
    known = np.zeros((5, 5), bool)
    known[0] = True
    assert np.allclose(diffuse(np.full((5, 5), 0.5, np.float32), known), 0.5)


@pytest.mark.parametrize("bad", [{"camera": "tripod"}, {"radius": 0}])
def test_invalid_options(bad):
    frames, masks, _ = object_clip(n=3)
    with pytest.raises(InputError):
        list(fill_frames(zip(frames, masks), **bad))


def test_mask_of_another_size_refused():
    frames, masks, _ = object_clip(n=3)
    with pytest.raises(MaskError, match="width x height"):
        list(fill_frames(zip(frames, [m[:-1] for m in masks])))


# --- tracking --------------------------------------------------------------------------------
def test_tracks_keep_identity_bridge_misses_and_keep(monkeypatch):
    from photomend.objects import api as objects_api
    from photomend.objects.api import Instance
    from photomend.video_removal.masks import kept_tracks, track_instances, track_masks

    h, w = 60, 80

    def fake_find(rgb, classes, min_score=0.25):
        i = int(round(rgb[0, 0, 0] * 100))
        out = []
        for x0, y0 in ((5 + 2 * i, 10), (60, 30)):  # a walker and a standing person
            if (x0, i) == (5 + 2 * 4, 4):
                continue  # the walker is missed in frame 4
            m = np.zeros((h, w), bool)
            m[y0:y0 + 20, x0:x0 + 8] = True
            out.append(Instance("person", 0.9, (x0, y0, x0 + 8, y0 + 20), m))
        return out

    monkeypatch.setattr(objects_api, "find_objects", fake_find)
    frames = [np.full((h, w, 3), i / 100, np.float32) for i in range(8)]
    tracks, n, shape = track_instances(iter(frames), ("person",), grow=0)
    assert n == 8 and len(tracks) == 2
    walker = next(t for t in tracks if t.frames[0].box[0] == 5)
    assert sorted(walker.frames) == list(range(8)) and walker.frames[4].bridged
    masks = list(track_masks(tracks, n, shape))
    assert masks[4][10:30, 13:21].all()  # the missed frame's mask, where the walker was
    kept = kept_tracks(tracks, [(64, 40, 0.5)], [i / 10 for i in range(8)], shape)
    assert kept == {next(t.id for t in tracks if t is not walker)}
    assert not any(m[30:50, 60:68].any() for m in track_masks(tracks, n, shape, kept))
    with pytest.raises(MaskError, match="outside"):
        kept_tracks(tracks, [(500, 5)], [0.0], shape)


def test_numbered_masks(tmp_path):
    from photomend.video_removal.masks import check_folder, describe_missing, numbered_masks

    for i in (1, 2, 3, 5, 9):
        cv2.imwrite(str(tmp_path / f"frame_{i}.png"), np.zeros((4, 4), np.uint8))
    found = numbered_masks(tmp_path)  # no 0: counted from 1
    assert sorted(found) == [0, 1, 2, 4, 8]
    with pytest.raises(MaskError, match="frames 4, 6-8 "):
        check_folder(found, 9)
    assert describe_missing([0, 1, 2, 7]) == "1-3, 8"


# --- files and the CLI -----------------------------------------------------------------------
av = pytest.importorskip("av")

from video_clips import mux_tone  # noqa: E402


def write_clip(path, frames, fps=10, audio=True, crf=0):
    """H.264 (crf 0) with an AAC tone, like tests/video_clips.make_clip."""
    h, w = frames[0].shape[:2]
    with av.open(str(path), "w") as c:
        v = c.add_stream("libx264", rate=fps)
        v.width, v.height, v.pix_fmt = w, h, "yuv444p"
        v.options = {"crf": str(crf)}
        a = None
        if audio:
            a = c.add_stream("aac", rate=16000)
            a.layout = "mono"
        for i, f in enumerate(frames):
            vf = av.VideoFrame.from_ndarray((f * 255 + 0.5).astype(np.uint8), format="rgb24")
            vf.pts = i
            vf.time_base = Fraction(1, fps)
            for p in v.encode(vf):
                c.mux(p)
        for p in v.encode():
            c.mux(p)
        if a is not None:
            mux_tone(c, a, int(16000 * len(frames) / fps))
    return path


def walker_clip(tmp_path, n):
    """``n`` frames of a red block walking over a still textured background (lossless H.264
    with an AAC tone), its masks numbered by frame in a folder, and the truth."""
    frames, masks, truths = object_clip(n=n)
    clip = write_clip(tmp_path / "walker.mp4", frames)
    folder = tmp_path / "masks"
    folder.mkdir()
    for i, m in enumerate(masks):
        cv2.imwrite(str(folder / f"{i:06d}.png"), m.astype(np.uint8) * 255)
    return clip, folder, masks, truths


@pytest.fixture
def walker(tmp_path):
    return walker_clip(tmp_path, 12)


def test_remove_video_mask_folder_known_answer(walker, tmp_path):
    from photomend import remove_video
    from photomend.video.reader import probe, read_frames

    clip, folder, masks, truths = walker
    out = tmp_path / "out"  # PNG frames: no second encoding in the comparison
    r = remove_video(clip, out, folder)
    assert r.frames == 12 and r.stats.filled == 12
    decoded = [f.rgb for f in read_frames(clip)]
    got = sorted(out.glob("*.png"))
    assert len(got) == 12
    for k, (path, m, t, src) in enumerate(zip(got, masks, truths, decoded, strict=True)):
        o = cv2.imread(str(path))[:, :, ::-1].astype(np.float32) / 255
        assert masked_psnr(o, t, m, dilate=0) > 35, k
        assert np.array_equal(o[~m], src[~m])  # bit-identical outside the mask
    mp4 = remove_video(clip, tmp_path / "out.mp4", folder)
    info, src = probe(mp4.output), probe(clip)
    assert (info.fps, info.frames, info.audio) == (src.fps, 12, ("aac",))


def test_remove_video_segment_start_duration(walker, tmp_path):
    # one segment of the clip (as photomend batch's resumable segments run it): frames 3-7 of
    # 12 at 10 frames/s, its masks matched by their number in the whole clip; a mask missing
    # outside the segment does not matter, one inside it is named
    from photomend import remove_video
    from photomend.video.reader import read_frames

    clip, folder, masks, truths = walker
    (folder / "000008.png").unlink()
    part = folder
    r = remove_video(clip, tmp_path / "seg", part, start=0.3, duration=0.5)
    got = sorted((tmp_path / "seg").glob("*.png"))
    assert r.frames == len(got) == 5 and r.stats.filled == 5
    decoded = [f.rgb for f in read_frames(clip)]
    for k, path in enumerate(got):
        o = cv2.imread(str(path))[:, :, ::-1].astype(np.float32) / 255
        assert masked_psnr(o, truths[3 + k], masks[3 + k], dilate=0) > 35, k
        assert np.array_equal(o[~masks[3 + k]], decoded[3 + k][~masks[3 + k]])
    with pytest.raises(MaskError, match="frame 9 "):
        remove_video(clip, tmp_path / "seg2", part, start=0.3, duration=0.6)


def test_remove_video_bad_input(walker, tmp_path):
    from photomend import remove_video
    from photomend.errors import OutputError

    clip, folder, masks, _ = walker
    (folder / "000005.png").unlink()
    with pytest.raises(MaskError, match="frame 6 "):
        remove_video(clip, tmp_path / "a.mp4", folder)
    small = tmp_path / "small.png"
    part = np.zeros((12, 16), np.uint8)
    part[1:3, 10:14] = 255  # a logo, drawn at a quarter of the size
    cv2.imwrite(str(small), part)
    with pytest.raises(MaskError, match="resize"):
        remove_video(clip, tmp_path / "a.mp4", small)
    r = remove_video(clip, tmp_path / "b.mp4", small, resize_mask=True)
    assert r.frames == 12 and len(r.stats.key_frames) == 1
    whole = tmp_path / "whole.png"
    cv2.imwrite(str(whole), np.full((48, 64), 255, np.uint8))
    with pytest.raises(MaskError, match="whole frame"):
        remove_video(clip, tmp_path / "a.mp4", whole)
    with pytest.raises(InputError, match="nothing to remove"):
        remove_video(clip, tmp_path / "c.mp4")
    with pytest.raises(OutputError):
        remove_video(clip, clip, small, overwrite=True)
    fake = tmp_path / "fake.mp4"
    fake.write_text("hello")
    with pytest.raises(InputError, match="not a video"):
        remove_video(fake, tmp_path / "g.mp4", small)
    with pytest.raises(InputError, match="no such file"):
        remove_video(tmp_path / "missing.mp4", tmp_path / "g.mp4", small)
    assert not (tmp_path / "a.mp4").exists() and not (tmp_path / "g.mp4").exists()


def test_cli(walker, tmp_path, capsys):
    from photomend.cli import main

    clip, folder, masks, _ = walker
    logo = tmp_path / "logo.png"
    m = np.zeros(masks[0].shape, np.uint8)
    m[2:8, 40:60] = 255
    cv2.imwrite(str(logo), m)
    out = tmp_path / "cli.mp4"
    assert main(["remove", str(clip), "--mask", str(logo), "-o", str(out)]) == 0
    assert "12 frames" in capsys.readouterr().out and out.is_file()
    assert main(["remove", str(clip), "-m", str(folder), "-o", str(tmp_path / "d.mp4"),
                 "--camera", "static", "--radius", "4", "-q"]) == 0
    assert main(["remove", str(clip), "--auto", "person", "--keep", "3,4@x", "-o",
                 str(tmp_path / "e.mp4")]) == 2
    assert main(["remove", str(clip), "-m", str(logo), "--select", "3,4", "-o",
                 str(tmp_path / "f.mp4")]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "--select works on photos" in err


def find_red_walker(rgb, classes=("person",), min_score=0.25):
    """A stand-in for ``find_objects``: the walker (the red block) as one person."""
    from photomend.objects.api import Instance

    red = np.abs(rgb - np.float32([0.9, 0.1, 0.1])).max(axis=2) < 0.08
    ys, xs = np.nonzero(red)
    if len(ys) < 20:
        return []
    box = (float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1))
    return [Instance("person", 0.9, box, red)]


def test_remove_video_auto_tracks_and_keep(walker, tmp_path, monkeypatch):
    from photomend import remove_video
    from photomend.objects import api as objects_api
    from photomend.video.reader import read_frames

    clip, _, masks, truths = walker
    monkeypatch.setattr(objects_api, "find_objects", find_red_walker)
    seen = []
    r = remove_video(clip, tmp_path / "auto", auto="person", grow=2,
                     progress=lambda stage, done, total: seen.append(stage))
    assert r.tracks == 1 and r.kept == 0 and r.stats.filled == 12
    assert seen[0] == "detect" and "scan" in seen and seen[-1] == "frames"
    for path, m, t in zip(sorted((tmp_path / "auto").glob("*.png")), masks, truths,
                          strict=True):
        o = cv2.imread(str(path))[:, :, ::-1].astype(np.float32) / 255
        assert masked_psnr(o, t, m, dilate=0) > 33
    y, x = np.argwhere(masks[5])[0]
    r = remove_video(clip, tmp_path / "kept", auto="person", keep=[(x + 1, y + 1, 0.5)])
    assert r.kept == 1 and r.stats.filled == 0
    src = [f.rgb for f in read_frames(clip)]
    for path, s in zip(sorted((tmp_path / "kept").glob("*.png")), src, strict=True):
        assert np.array_equal(cv2.imread(str(path))[:, :, ::-1].astype(np.float32) / 255, s)
