"""NO_COLOR without losing the verdict: greys that keep a failure as visible as a success.

Textual turns every colour into the grey of its luminance when ``NO_COLOR`` is set.
Red, the colour of every ✘, is among the darkest colours there (grey 237 on 233,
about 1.6:1, the dimmest text on screen) while green is among the brightest: the
mark that matters most was the hardest to read. Here a saturated foreground (the
colours that carry meaning: red, green, yellow, cyan) is drawn in the brightest
grey instead; the marks (✘ ! ✔) and bold say which is which, as NO_COLOR asks.
Muted greys (hints, placeholders) keep their shade.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

from rich.segment import Segment
from rich.style import Style
from textual.color import Color
from textual.filter import LineFilter, Monochrome, monochrome_style

SATURATED = 0.3
"""HSL saturation from which a foreground is a signal colour, not a shade of grey."""


class SignalMonochrome(LineFilter):
    """Textual's Monochrome filter, with signal colours in the brightest grey."""

    def apply(self, segments: list[Segment], background: Color) -> list[Segment]:
        light = background.brightness < 0.5
        return [
            Segment(text, None if style is None else _grey(style, light), None)
            for text, style, _ in segments
        ]


@lru_cache(1024)
def _grey(style: Style, on_dark: bool) -> Style:
    color = style.color
    if color is not None and not color.is_default:
        textual_color = Color.from_rich_color(color)
        _, saturation, lightness = textual_color.hsl
        if saturation >= SATURATED and 0.1 < lightness < 0.95:
            brightest = Color(238, 238, 238) if on_dark else Color(18, 18, 18)
            style = style + Style(color=brightest.rich_color)
    return monochrome_style(style)


def with_signal_greys(filters: Sequence[LineFilter]) -> list[LineFilter]:
    """``filters`` with Textual's Monochrome replaced by :class:`SignalMonochrome`."""
    return [_SIGNAL if isinstance(f, Monochrome) else f for f in filters]


_SIGNAL = SignalMonochrome()
