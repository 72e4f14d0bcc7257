"""One Pillow compositor for the handset image: the body, the screen (the
firmware's own RGB565 framebuffer scaled x2 or x3 with NEAREST, pixel
exact), the keypad, the status lights and the paper strip beside it.

    compositor = Compositor(scale=2)                  # layout from assets/handset.json
    image = compositor.compose(View(framebuffer, 240, 320, pressed={"ENTER"},
                                    lights={"power": True, ...}, paper=strip))
    compositor.key_at(x, y)                          # -> "ENTER" or None (click hit-box)
    compositor.screen_box                            # (left, top, right, bottom) of the screen
    compositor.screen_point(x, y)                    # -> framebuffer pixel under (x, y), or None

The window only shows this image and maps clicks to keys through key_at();
headless screenshots use the same compositor. Every position comes from the
layout file (framebuffer pixels, multiplied by the scale), none from code.
The paper strip is drawn at printer size (384 dots wide) whatever the scale.
"""

import json
import os

from PIL import Image, ImageDraw

from emulator.paper import PAPER_WIDTH, PaperRenderer
from emulator.png import framebuffer_to_image

LAYOUT_PATH = os.path.join(os.path.dirname(__file__), "assets", "handset.json")
BACKGROUND = (214, 214, 210)
LIGHT_ON = {"power": (46, 204, 64), "modem": (46, 204, 64), "host": (46, 204, 64), "paper": (46, 204, 64),
            "card": (255, 190, 40)}
LIGHT_OFF = (70, 74, 80)
LIGHT_BAD = (230, 60, 50)
PERFORATION = 120   # grey of the tear line between two slips
STRIP_EMPTY = (190, 190, 186)
PARTS = ("screen", "keypad", "lights", "paper")   # what changes; the rest of the image never does


def load_layout(path=LAYOUT_PATH):
    with open(path, encoding="utf-8") as f:
        layout = json.load(f)
    names = [k["key"] for k in layout["keys"]]
    if len(set(names)) != len(names):
        raise ValueError("%s: a key appears twice" % path)
    return layout


def _rgb(text):
    return tuple(int(text[i:i + 2], 16) for i in (1, 3, 5))


class View:
    """What one frame shows. `lights`: name -> True (on), False (off) or
    "bad" (red). `paper`: a PaperStrip or None."""

    def __init__(self, framebuffer, width, height, pressed=(), lights=None, paper=None):
        self.framebuffer = framebuffer
        self.width = width
        self.height = height
        self.pressed = set(pressed)
        self.lights = dict(lights or {})
        self.paper = paper


class Compositor:
    def __init__(self, scale=2, layout=None):
        if scale not in (1, 2, 3):
            raise ValueError("scale must be 1, 2 or 3, not %r" % (scale,))
        self.scale = scale
        self.layout = layout or load_layout()
        self._text = PaperRenderer()  # the firmware's font at printer size, for labels
        L = self.layout
        s = scale
        screen_w, screen_h = L["screen"]
        self.body_width = (2 * L["bezel"] + screen_w) * s
        self._screen_xy = (L["bezel"] * s, (L["status_bar"] + L["bezel"] // 2) * s)
        self.screen_box = (self._screen_xy[0], self._screen_xy[1],
                           self._screen_xy[0] + screen_w * s, self._screen_xy[1] + screen_h * s)
        keypad_top = self.screen_box[3] + L["keypad_gap"] * s
        self.body_height = keypad_top + (L["keypad_size"][1] + L["bottom"]) * s
        self.keys = {}
        for key in L["keys"]:
            x, y, w, h = key["box"]
            self.keys[key["key"]] = dict(key, rect=(L["bezel"] * s + x * s, keypad_top + y * s,
                                                   L["bezel"] * s + (x + w) * s, keypad_top + (y + h) * s))
        self.paper_left = self.body_width + L["paper_gap"] * s
        self.paper_box = (self.paper_left, 0, self.paper_left + PAPER_WIDTH, self.body_height)
        self.size = (self.paper_box[2], self.body_height)
        self._base = None
        self._pressed_faces = {}

    def tiles(self):
        """The image cut into rectangles that change apart: name -> (left,
        top, right, bottom); together they cover it exactly. A window can
        redraw only the tiles whose part of the View changed."""
        left, top, right, bottom = self.screen_box
        width, height = self.size
        return {"lights": (0, 0, self.body_width, top), "bezel_left": (0, top, left, bottom),
                "screen": self.screen_box, "bezel_right": (right, top, self.body_width, bottom),
                "keypad": (0, bottom, self.body_width, self.body_height),
                "gap": (self.body_width, 0, self.paper_left, height), "paper": self.paper_box}

    # -- hit-boxes --------------------------------------------------------------

    def key_at(self, x, y):
        for name, key in self.keys.items():
            left, top, right, bottom = key["rect"]
            if left <= x < right and top <= y < bottom:
                return name
        return None

    def screen_point(self, x, y, clamp=False):
        """A point of the image -> the framebuffer pixel under it, or None
        off the screen (`clamp`: the nearest pixel on its edge instead,
        for a finger dragged past the glass)."""
        left, top, right, bottom = self.screen_box
        if not clamp and not (left <= x < right and top <= y < bottom):
            return None
        x = min(max(x, left), right - 1)
        y = min(max(y, top), bottom - 1)
        return (x - left) // self.scale, (y - top) // self.scale

    def pc_keys(self):
        """Tk keysym -> key name, from the layout file."""
        table = {}
        for name, key in self.keys.items():
            for sym in key.get("pc_keys", ()):
                table[sym] = name
        return table

    # -- drawing ----------------------------------------------------------------

    def _label(self, image, centre, text, colour, height):
        """Draw `text` centred on `centre` with the firmware's font, scaled
        to `height` pixels (NEAREST: the font's own pixels)."""
        masks = [self._text.glyph(ord(ch), 1, 1) for ch in text]
        width = sum(m.size[0] for m in masks)
        strip = Image.new("1", (max(width, 1), masks[0].size[1] if masks else 1), 0)
        x = 0
        for mask in masks:
            strip.paste(1, (x, 0), mask)
            x += mask.size[0]
        factor = height / strip.size[1]
        strip = strip.resize((max(1, int(strip.size[0] * factor)), height), Image.NEAREST)
        image.paste(colour, (centre[0] - strip.size[0] // 2, centre[1] - height // 2), strip)

    def _draw_key(self, image, key, pressed):
        s = self.scale
        left, top, right, bottom = key["rect"]
        draw = ImageDraw.Draw(image)
        face = _rgb(key.get("colour", self.layout["key_colour"]))
        text = (255, 255, 255) if "colour" in key else _rgb(self.layout["key_text"])
        if pressed:
            face = tuple(c * 6 // 10 for c in face)
            draw.rounded_rectangle((left, top, right - 1, bottom - 1), radius=3 * s, fill=(20, 20, 20))
            draw.rounded_rectangle((left + s, top + s, right - 1, bottom - 1), radius=3 * s, fill=face)
        else:
            draw.rounded_rectangle((left, top, right - 1, bottom - 1), radius=3 * s, fill=(15, 15, 15))
            draw.rounded_rectangle((left, top, right - 1 - s, bottom - 1 - s), radius=3 * s, fill=face)
        shift = s if pressed else 0
        self._label(image, ((left + right) // 2 + shift, (top + bottom) // 2 + shift), key["label"], text,
                    min(12 * s, (bottom - top) * 6 // 10))

    def _base_image(self):
        """Everything that never changes: background, body, keys up, lights' labels."""
        if self._base is not None:
            return self._base
        s = self.scale
        L = self.layout
        image = Image.new("RGB", self.size, BACKGROUND)
        draw = ImageDraw.Draw(image)
        draw.rounded_rectangle((0, 0, self.body_width - 1, self.body_height - 1), radius=14 * s,
                               fill=_rgb(L["body_colour"]))
        left, top, right, bottom = self.screen_box
        draw.rectangle((left - s, top - s, right + s - 1, bottom + s - 1), fill=(0, 0, 0))
        for key in self.keys.values():
            self._draw_key(image, key, False)
        self._light_spots = []
        lights = L["lights"]
        step = self.body_width // (len(lights) + 1)
        for i, light in enumerate(lights):
            cx = step * (i + 1)
            cy = (L["status_bar"] // 2 + 2) * s
            self._light_spots.append((light["name"], (cx - 22 * s, cy)))
            self._label(image, (cx + 4 * s, cy), light["label"], (200, 200, 200), 8 * s)
        self._base = image
        return image

    def _key_face(self, name):
        """The pressed look of one key, cached as a small image."""
        face = self._pressed_faces.get(name)
        if face is None:
            key = self.keys[name]
            left, top, right, bottom = key["rect"]
            canvas = self._base_image().crop((left, top, right, bottom))
            self._draw_key(canvas, dict(key, rect=(0, 0, right - left, bottom - top)), True)
            face = canvas
            self._pressed_faces[name] = face
        return face

    def screen_image(self, view):
        """The framebuffer scaled with NEAREST: exactly what the screen area shows."""
        image = framebuffer_to_image(view.framebuffer, view.width, view.height)
        if self.scale != 1:
            image = image.resize((view.width * self.scale, view.height * self.scale), Image.NEAREST)
        return image

    def compose(self, view):
        """The whole image for `view` (a new image)."""
        return self.update(self._base_image().copy(), view, PARTS)

    def update(self, image, view, parts):
        """Draw only `parts` of `view` ("screen", "keypad", "lights",
        "paper") on `image` (one compose() made), in place; -> image.
        Each part is drawn whole from the base, so the result equals
        compose(view) wherever those parts are."""
        base = self._base_image()
        tiles = self.tiles()
        if "screen" in parts:
            image.paste(self.screen_image(view), self.screen_box[:2])
        if "keypad" in parts:
            box = tiles["keypad"]
            image.paste(base.crop(box), box[:2])
            for name in view.pressed:
                if name in self.keys:
                    image.paste(self._key_face(name), self.keys[name]["rect"][:2])
        if "lights" in parts:
            box = tiles["lights"]
            image.paste(base.crop(box), box[:2])
            draw = ImageDraw.Draw(image)
            r = 3 * self.scale
            for name, (cx, cy) in self._light_spots:
                state = view.lights.get(name)
                colour = LIGHT_BAD if state == "bad" else (LIGHT_ON.get(name, LIGHT_ON["power"]) if state
                                                          else LIGHT_OFF)
                draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=colour)
        if "paper" in parts:
            self._draw_paper(image, view.paper)
        return image

    def _draw_paper(self, image, strip):
        left, top, right, bottom = self.paper_box
        if strip is None or strip.height == 0:
            ImageDraw.Draw(image).rectangle((left, top, right - 1, bottom - 1), fill=STRIP_EMPTY)
            return
        height = bottom - top
        # scroll: 0 shows the newest end of the strip (as it leaves the printer)
        end = max(0, strip.height - strip.scroll)
        start = max(0, end - height)
        part = strip.image.crop((0, start, PAPER_WIDTH, end))
        if part.size[1] < height:
            ImageDraw.Draw(image).rectangle((left, top, right - 1, bottom - 1), fill=STRIP_EMPTY)
        image.paste(part.convert("RGB"), (left, top))


class PaperStrip:
    """The paper that came out of the printer since the last tear-off: the
    slips' ESC/POS bytes rendered by emulator/paper.py, one under the
    other, a tear line between them. `scroll`: pixels up from the newest end."""

    def __init__(self, renderer=None):
        self._renderer = renderer or PaperRenderer()
        self.image = None
        self.height = 0
        self.scroll = 0
        self.slips = 0

    def add(self, data, table):
        from firmware import escpos
        slip = self._renderer.render(escpos.parse(data, table))
        perforation = 6 if self.image is not None else 0
        image = Image.new("L", (PAPER_WIDTH, self.height + perforation + slip.size[1]), 255)
        if self.image is not None:
            image.paste(self.image, (0, 0))
            for x in range(0, PAPER_WIDTH, 8):
                image.paste(PERFORATION, (x, self.height + 2, x + 4, self.height + 4))
        image.paste(slip, (0, self.height + perforation))
        self.image = image
        self.height = image.size[1]
        self.scroll = 0
        self.slips += 1

    def tear(self):
        self.image = None
        self.height = 0
        self.scroll = 0
        self.slips = 0

    def scroll_by(self, pixels, view_height):
        self.scroll = max(0, min(self.scroll + pixels, max(0, self.height - view_height)))
