"""Messages over any page: an error, a hint or news, each shown for its kind's time.

An error is inverted and sets ERR in the top bar; a hint says what to do instead ("hold to
save"); info says what happened ("cancelled"). The text is the view model's (``Model.message``,
which the pages and the top bar read); this keeps when it began (long messages scroll from
there) and when it ends, and says a part that stops working once, not every tick.
"""

from __future__ import annotations

from typing import Callable, List, Optional

from promptsynth.panel.view import Model

MESSAGE_S = {"error": 6.0, "hint": 3.0, "info": 3.0}  # how long a message shows


class Messages:
    def __init__(self, model: Model, clock: Callable[[], float]):
        self.model, self.clock = model, clock
        self.at = 0.0  # when the message shown began
        self.until = 0.0  # when it ends
        self._problems: List[str] = []  # the parts not working, as last seen

    def flash(self, message: str, seconds: Optional[float] = None, kind: str = "error") -> None:
        """Show ``message`` for ``seconds`` (its kind's time by default); long ones wrap, and
        scroll past three lines."""
        if kind not in MESSAGE_S:
            raise ValueError("kind must be error, hint or info, not %r" % kind)
        self.model.message, self.model.message_kind = message[:200], kind
        self.at = self.clock()
        self.until = self.at + (MESSAGE_S[kind] if seconds is None else seconds)

    def clear(self) -> None:
        self.model.message, self.model.message_kind, self.until = "", "", 0.0

    def tick(self, now: float) -> None:
        """After the model's refresh: a part that just stopped working is said (once), else a
        message whose time is up ends."""
        new = [p for p in self.model.problems if p not in self._problems]
        self._problems = list(self.model.problems)
        if new:
            self.flash(new[0])
        elif now > self.until:
            self.model.message, self.model.message_kind = "", ""
