"""Test footage with text rendered into real video (Pillow draws, PyAV encodes H.264).

A clip is a list of `Card`s: a line (or lines) of text shown from `start` to `end` over a
background: "dark", "light" or "busy" (the frames of a real clip from ../shared/footage, moving).
Each card is ground truth for the text channel's quality bench (bench/text_quality.py) and tests.
Fonts: DejaVu and Liberation from Debian (fonts-dejavu-core, fonts-liberation); Pillow's own
scalable default font where they are missing.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image, ImageDraw, ImageFont

FOOTAGE = Path(__file__).resolve().parents[2] / "shared" / "footage"
BUSY_CLIP = "butterfly.mov"  # natural, moving, no text in the picture
FONT_DIRS = ("/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/truetype/liberation")
FONTS = ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSerif.ttf", "DejaVuSansMono.ttf",
         "LiberationSans-Regular.ttf", "LiberationSerif-Bold.ttf", "LiberationSansNarrow-Regular.ttf")


@dataclass
class Card:
    lines: list[str]
    start: float
    end: float
    size: int  # font size in pixels (the em: capitals are ~0.73 of it)
    background: str = "dark"  # dark | light | busy
    font: str = FONTS[0]
    x: float = 0.1  # top-left of the first line, share of the frame
    y: float = 0.4
    move: float = 0.0  # moving title: share of the frame width travelled per second (leftwards)
    banner: bool = False  # lower third: a dark half-transparent band behind the text
    kind: str = "plain"

    @property
    def words(self) -> list[str]:
        return [w for line in self.lines for w in line.split()]


@dataclass
class Clip:
    cards: list[Card]
    duration: float
    width: int = 1920
    height: int = 1080
    fps: int = 25
    bitrate: int = 6_000_000
    backgrounds: dict[float, str] = field(default_factory=dict)  # start time -> background between cards


def font(name: str, size: int) -> ImageFont.FreeTypeFont:
    for d in FONT_DIRS:
        p = Path(d) / name
        if p.is_file():
            return ImageFont.truetype(str(p), size)
    return ImageFont.load_default(size=size)


def _busy_frames(width: int, height: int) -> Iterator[Image.Image]:
    """The busy clip's frames, scaled to fill the frame, looped forever."""
    while True:
        with av.open(str(FOOTAGE / BUSY_CLIP)) as c:
            for f in c.decode(video=0):
                yield f.to_image().resize((width, height), Image.Resampling.BILINEAR)


def _background(kind: str, width: int, height: int, busy: Iterator[Image.Image], t: float) -> Image.Image:
    if kind == "busy":
        return next(busy).copy()
    base = 28 if kind == "dark" else 232
    ramp = np.linspace(-12, 12, width, dtype=np.float32)[None, :] + np.zeros((height, 1), np.float32)
    a = np.clip(base + ramp + 4 * np.sin(t), 0, 255).astype(np.uint8)
    return Image.fromarray(np.stack([a, a, a], axis=2))


def _draw(img: Image.Image, card: Card, t: float) -> None:
    w, h = img.size
    f = font(card.font, card.size)
    x = card.x * w - card.move * w * (t - card.start)
    y = card.y * h
    light_bg = card.background == "light" and not card.banner
    fill = (20, 20, 20) if light_bg else (245, 245, 245)
    stroke = 0 if card.background != "busy" or card.banner else max(1, card.size // 12)
    if card.banner:
        over = Image.new("RGBA", img.size, (0, 0, 0, 0))
        ImageDraw.Draw(over).rectangle((0, y - card.size * 0.4, w, y + card.size * (1.3 * len(card.lines) + 0.2)),
                                       fill=(10, 20, 60, 190))
        img.paste(Image.alpha_composite(img.convert("RGBA"), over).convert("RGB"))
    d = ImageDraw.Draw(img)
    for k, line in enumerate(card.lines):
        d.text((x, y + k * card.size * 1.3), line, font=f, fill=fill, stroke_width=stroke, stroke_fill=(0, 0, 0))


def render(clip: Clip, path: Path) -> Path:
    """Encode the clip as H.264 (yuv420p, libx264, the given bitrate) into an .mp4."""
    busy = _busy_frames(clip.width, clip.height)
    with av.open(str(path), "w") as out:
        s = out.add_stream("libx264", rate=clip.fps)
        s.width, s.height, s.pix_fmt = clip.width, clip.height, "yuv420p"
        s.bit_rate = clip.bitrate
        s.options = {"preset": "veryfast"}
        s.codec_context.time_base = Fraction(1, clip.fps)
        n = round(clip.duration * clip.fps)
        for i in range(n):
            t = i / clip.fps
            showing = [c for c in clip.cards if c.start <= t < c.end]
            bg = showing[0].background if showing else _between(clip, t)
            img = _background(bg, clip.width, clip.height, busy, t)
            for c in showing:
                _draw(img, c, t)
            frame = av.VideoFrame.from_image(img)
            frame.pts = i
            for p in s.encode(frame):
                out.mux(p)
        for p in s.encode():
            out.mux(p)
    return path


def _between(clip: Clip, t: float) -> str:
    """Background shown outside cards: from `clip.backgrounds` when given, else that of the next
    card (so a card appears on its own picture)."""
    if clip.backgrounds:
        return clip.backgrounds[max((k for k in clip.backgrounds if k <= t), default=min(clip.backgrounds))]
    nxt = [c for c in clip.cards if c.start > t]
    return min(nxt, key=lambda c: c.start).background if nxt else "dark"


# --------------------------------------------------------------------------- ready-made clips

_VOCAB = ("river", "harbour", "archive", "winter", "bridge", "station", "forest", "council", "morning",
          "delta", "museum", "garden", "north", "valley", "signal", "market", "island", "tower", "copper",
          "meadow", "lantern", "orchard", "canyon", "glacier", "quarry", "summit", "beacon", "harvest")


def slate_and_lower_third(width: int = 1280, height: int = 720, fps: int = 10) -> Clip:
    """A short clip for the test: a slate on dark (gone at 4 s, the picture stays dark: no cut),
    then from 5 s a busy, moving picture over which a lower third appears at 5.5 s."""
    cards = [
        Card(["SCENE 42 TAKE 3"], 1.0, 4.0, size=round(height * 0.07), font="DejaVuSans-Bold.ttf", x=0.25, y=0.45,
             kind="slate"),
        Card(["MARIA LOPEZ · HYDROLOGIST"], 5.5, 8.0, size=round(height * 0.045), background="busy", x=0.06,
             y=0.8, banner=True, kind="lower third"),
    ]
    for c in cards[1:]:
        c.background = "busy"
    return Clip(cards, duration=8.5, width=width, height=height, fps=fps, bitrate=2_500_000,
                backgrounds={0.0: "dark", 5.0: "busy"})


def quality_clip(sizes: tuple[int, ...] = (12, 16, 20, 24, 32, 48, 72), seed: int = 7) -> Clip:
    """1080p, 25 fps, 6 Mb/s: for every size a card on dark, light and busy pictures (fonts in
    turn), then a slate, a lower third and a moving title. Cards last 3 s with 1.5 s between."""
    rnd = random.Random(seed)
    cards: list[Card] = []
    t = 1.0
    k = 0
    for size in sizes:
        for bg in ("dark", "light", "busy"):
            words = rnd.sample(_VOCAB, 3)
            line = f"{words[0].capitalize()} {words[1]} {rnd.randint(10, 999)} {words[2]}"
            cards.append(Card([line], t, t + 3.0, size=size, background=bg, font=FONTS[k % len(FONTS)],
                              x=rnd.uniform(0.05, 0.45), y=rnd.uniform(0.1, 0.8)))
            k += 1
            t += 4.5
    cards.append(Card(["SCENE 42 TAKE 3", "ROLL A017"], t, t + 3.0, size=64, font="DejaVuSans-Bold.ttf", x=0.3,
                      y=0.4, kind="slate"))
    t += 4.5
    cards.append(Card(["MARIA LOPEZ · HYDROLOGIST"], t, t + 4.0, size=40, background="busy", x=0.06, y=0.82,
                      banner=True, kind="lower third"))
    t += 5.5
    cards.append(Card(["The Flood of 1998"], t, t + 4.0, size=56, background="dark", font="DejaVuSerif.ttf", x=0.5,
                      y=0.3, move=0.05, kind="moving title"))
    t += 5.5
    return Clip(cards, duration=t)
