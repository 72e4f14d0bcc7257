"""The display's RGB565 framebuffer as a Pillow image or a PNG file.

The framebuffer is what the handset's fbdev would hold: 2 bytes a pixel,
little-endian, red in the top 5 bits (hal/display.py). Pillow's raw decoder
"BGR;16" reads exactly that layout (its name counts bits from the low end)
and widens each channel to 8 bits.
"""

from PIL import Image


def framebuffer_to_image(framebuffer, width, height):
    """RGB565 little-endian bytes -> an RGB PIL.Image of width x height."""
    expected = width * height * 2
    if len(framebuffer) != expected:
        raise ValueError("framebuffer has %d bytes, %dx%d RGB565 needs %d"
                         % (len(framebuffer), width, height, expected))
    return Image.frombytes("RGB", (width, height), bytes(framebuffer), "raw", "BGR;16")


def display_to_image(display, scale=1):
    """A Display's framebuffer as an image, optionally scaled up (nearest)."""
    image = framebuffer_to_image(display.framebuffer, display.width, display.height)
    if scale != 1:
        image = image.resize((display.width * scale, display.height * scale), Image.NEAREST)
    return image


def save_png(framebuffer, width, height, path, scale=1):
    """Write the framebuffer to `path` as PNG; returns the path."""
    image = framebuffer_to_image(framebuffer, width, height)
    if scale != 1:
        image = image.resize((width * scale, height * scale), Image.NEAREST)
    image.save(path, "PNG")
    return path
