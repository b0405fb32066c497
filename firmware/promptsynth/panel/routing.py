"""Input routing: which page, dialog or panel-wide action an input event goes to.

The order is the behaviour, so it is written once, here: the operator's two-button hold, F1-F10,
the operator's keys on the System page (no page sees them), Esc cancelling jobs, then the page;
then what the page did not take (Tab and PageUp/PageDown stand in for the encoders, typing goes to
the prompt, the select encoder changes pages, a long press on it goes home).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from promptsynth.panel.events import Key, Press, Turn
from promptsynth.panel.kiosk import operator_key

if TYPE_CHECKING:  # the panel calls handle with itself
    from promptsynth.panel.panel import Panel


def handle(ui: Panel, ev) -> None:
    """Route one input event (a ``Key``, ``Turn`` or ``Press``) on the panel ``ui``."""
    now = ui.last_input = ui.clock()
    ui.lock.input(now)
    page = ui.current_page
    if isinstance(ev, Press) and ev.kind == "hold":
        # both buttons held for [panel] kiosk_unlock_hold: the operator's gesture, nothing else
        if ui.lock.hold(ev.button, now):
            ui.flash("kiosk unlocked" if ui.lock.unlocked else "kiosk locked", 10.0, kind="info")
        return
    if isinstance(ev, Key):
        if ev.name.startswith("f") and ev.name[1:].isdigit() and 1 <= int(ev.name[1:]) <= len(ui.order):
            ui.set_page(ui.order[int(ev.name[1:]) - 1])
            return
        if ui.page == "system" and operator_key(ui, ev, now):
            return
        # Esc cancels jobs (see JobWatch.cancel) unless the page has a dialog open that it closes
        if ev.name == "esc" and not page.modal() and ui.jobs.busy():
            ui.jobs.cancel()
            return
        if page.key(ui, ev):
            return
        if ev.name in ("tab", "backtab"):  # unless the page uses Tab: the select encoder
            handle(ui, Turn(0, -1 if ev.name == "backtab" else 1))
            return
        if ev.name in ("pageup", "pagedown"):  # the value encoder
            handle(ui, Turn(1, 1 if ev.name == "pageup" else -1))
            return
        if ev.char and ui.page != "prompt":  # typing anywhere goes to the prompt
            ui.set_page("prompt")
            ui.current_page.key(ui, ev)
        return
    if isinstance(ev, Turn):
        ui.turn_speed = ui.speeds[ev.encoder % 2].feed(ev.delta, ev.t)
        ui.fine = ev.fine
        if page.turn(ui, ev.encoder, ev.delta):
            return
        if ev.encoder == 0:
            i = ui.order.index(ui.page)
            ui.set_page(ui.order[(i + ev.delta) % len(ui.order)])
        return
    if isinstance(ev, Press):
        if ev.button == 0 and ev.kind == "long":
            ui.set_page("play")  # a long press on select (encoder 1's button): home
            return
        page.press(ui, ev.kind)  # a page's own long-press action is encoder 2's
