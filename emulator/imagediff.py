"""Comparing a screenshot with its reference image, pixel by pixel.

    result = compare_images(actual, reference)
    result.differing, result.first      # count, and (x, y, actual RGB, reference RGB) of the first
    result.diff_image(actual)           # the actual image greyed, differing pixels in red

Images of different sizes differ everywhere (the summary says so).
"""

from PIL import Image, ImageChops

MARK = (255, 0, 0)


class Comparison:
    def __init__(self, differing, first, size_mismatch=None, mask=None):
        self.differing = differing
        self.first = first
        self.size_mismatch = size_mismatch
        self.mask = mask

    def summary(self):
        if self.size_mismatch:
            return "size %dx%d, reference %dx%d" % self.size_mismatch
        if not self.differing:
            return "identical"
        x, y, got, want = self.first
        return "%d pixels differ, the first at (%d, %d): %s, reference %s" % (
            self.differing, x, y, "#%02x%02x%02x" % got, "#%02x%02x%02x" % want)

    def diff_image(self, actual):
        """The actual image greyed and faded, each differing pixel red."""
        faded = Image.blend(actual.convert("L").convert("RGB"), Image.new("RGB", actual.size, "white"), 0.6)
        if self.mask is not None:
            faded.paste(MARK, (0, 0), self.mask)
        elif self.size_mismatch:
            faded.paste(MARK, (0, 0, actual.size[0], actual.size[1]))
        return faded


def compare_images(actual, reference):
    actual = actual.convert("RGB")
    reference = reference.convert("RGB")
    if actual.size != reference.size:
        return Comparison(actual.size[0] * actual.size[1], None,
                          size_mismatch=actual.size + reference.size)
    difference = ImageChops.difference(actual, reference)
    # a pixel differs when any channel does: the max over the channels, as a 0/255 mask
    r, g, b = difference.split()
    mask = ImageChops.lighter(ImageChops.lighter(r, g), b).point(lambda v: 255 if v else 0)
    differing = mask.histogram()[255]
    if not differing:
        return Comparison(0, None)
    top = mask.getbbox()[1]
    data = mask.crop((0, top, actual.size[0], top + 1)).tobytes()
    x = data.index(255)
    first = (x, top, actual.getpixel((x, top)), reference.getpixel((x, top)))
    return Comparison(differing, first, mask=mask.convert("1"))
