"""Plain-numpy drawing primitives for the worlds' pictures (no GUI dependency)."""

from __future__ import annotations

import numpy as np

Color = tuple[int, int, int]

# Okabe-Ito, a colour-blind-safe palette, plus neutral greys.
BLUE: Color = (0, 114, 178)
ORANGE: Color = (230, 159, 0)
GREEN: Color = (0, 158, 115)
VERMILLION: Color = (213, 94, 0)
YELLOW: Color = (240, 228, 66)
SKY: Color = (86, 180, 233)
PURPLE: Color = (204, 121, 167)
BLACK: Color = (0, 0, 0)
DARK: Color = (60, 60, 60)
GREY: Color = (150, 150, 150)
LIGHT: Color = (235, 235, 235)
WHITE: Color = (255, 255, 255)


def canvas(rows: int, cols: int, cell: int, color: Color = WHITE) -> np.ndarray:
    """A blank ``(rows * cell, cols * cell, 3)`` uint8 image."""
    image = np.empty((rows * cell, cols * cell, 3), dtype=np.uint8)
    image[:] = color
    return image


def fill_cell(
    image: np.ndarray, row: int, col: int, cell: int, color: Color, margin: int = 0
) -> None:
    """Paint grid cell ``(row, col)``, leaving ``margin`` pixels of its border untouched."""
    top, left = row * cell + margin, col * cell + margin
    image[top : (row + 1) * cell - margin, left : (col + 1) * cell - margin] = color


def disc(
    image: np.ndarray, row: float, col: float, cell: int, color: Color, radius: float = 0.35
) -> None:
    """Paint a filled circle centred on grid cell ``(row, col)``; ``radius`` is in cells."""
    cy, cx = (row + 0.5) * cell, (col + 0.5) * cell
    ys, xs = np.ogrid[: image.shape[0], : image.shape[1]]
    inside = (ys + 0.5 - cy) ** 2 + (xs + 0.5 - cx) ** 2 <= (radius * cell) ** 2
    image[inside] = color


def bar(image: np.ndarray, fraction: float, color: Color, height: int = 3) -> None:
    """A progress bar along the bottom edge: ``fraction`` of the width painted."""
    width = int(round(image.shape[1] * min(max(fraction, 0.0), 1.0)))
    image[-height:, :] = LIGHT
    image[-height:, :width] = color
