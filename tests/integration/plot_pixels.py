#!/usr/bin/env python3
"""Count the pixels of Lamina's and the baseline's colours in a rendered plot.

plot_pixels.py PNG SPLIT_Y prints four numbers: Lamina's and the baseline's
pixels above SPLIT_Y (the percentile panel), then below it (over time).
A pixel counts when it is within 40 (per channel) of the series colour, so
anti-aliased line edges count too but the grey grid and black text do not.
"""
import sys

from PIL import Image

LAMINA = (0x1F, 0x77, 0xB4)
BASELINE = (0xFF, 0x7F, 0x0E)


def near(p, c):
    return all(abs(a - b) <= 40 for a, b in zip(p, c))


def main(path, split):
    im = Image.open(path).convert("RGB")
    w, h = im.size
    px = im.load()
    counts = [0, 0, 0, 0]
    for y in range(h):
        half = 0 if y < split else 2
        for x in range(w):
            p = px[x, y]
            if near(p, LAMINA):
                counts[half] += 1
            elif near(p, BASELINE):
                counts[half + 1] += 1
    print(" ".join(str(c) for c in counts))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
