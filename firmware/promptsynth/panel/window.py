"""The simulator's window: the OLED scaled up, laptop keys as encoders, buttons and text.

Keys (the README's list; tests post them as pygame events and read them back through events()):
type to edit the prompt, Enter generates, Esc cancels (again: the whole queue), F1-F9 pages,
Tab / Shift-Tab turn the select encoder (Tab renames a user preset in the Library), Page Up /
Page Down turn the value encoder (with Shift: fine steps), Insert presses encoder 1's button
(Shift-Insert: a long press, home), Ctrl-Insert presses encoder 2's (Ctrl-Shift-Insert: a long
press: save, delete, learn, generate), arrows, Home, End, Backspace, Delete.
"""

from __future__ import annotations

import os
import time
from typing import Callable, List, Tuple

from promptsynth.panel.events import Event, Key, Press, Turn


class Window:
    def __init__(self, scale: int = 4, clock: Callable[[], float] = time.monotonic):
        os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")  # no greeting on stdout
        import pygame

        self.pg = pygame
        # the display only: pygame.init() would also start SDL's audio, which can wait forever
        # on a sound server (the simulator's JACK) and has no business in the panel
        pygame.display.init()
        self.scale = scale
        self.clock = clock  # time stamps for the value encoder's acceleration (key repeat spins it)
        self.screen = pygame.display.set_mode((128 * scale, 64 * scale))
        pygame.display.set_caption("promptsynth")
        pygame.key.set_repeat(300, 30)  # a held Page Up spins the encoder (fast: coarse steps)
        self.failures_in_a_row = 0
        self.closed = False

    def status(self) -> Tuple[str, str]:
        return "ok", "simulator window"

    def show(self, image, now: float) -> bool:
        pg = self.pg
        from PIL import Image

        # crisp pixels; Pillow sets Image.NEAREST at run time, its types know only Image.Resampling,
        # which Pillow before 9.1 (the device's may be older) does not have
        nearest = Image.NEAREST  # type: ignore[attr-defined]
        rgb = image.convert("RGB").resize((128 * self.scale, 64 * self.scale), nearest)
        surf = pg.image.fromstring(rgb.tobytes(), rgb.size, "RGB")
        self.screen.blit(surf, (0, 0))
        pg.display.flip()
        return True

    def events(self) -> List[Event]:
        pg = self.pg
        out: List[Event] = []
        names = {
            pg.K_RETURN: "enter",
            pg.K_KP_ENTER: "enter",
            pg.K_ESCAPE: "esc",
            pg.K_LEFT: "left",
            pg.K_RIGHT: "right",
            pg.K_UP: "up",
            pg.K_DOWN: "down",
            pg.K_HOME: "home",
            pg.K_END: "end",
            pg.K_BACKSPACE: "backspace",
            pg.K_DELETE: "delete",
        }
        for ev in pg.event.get():
            if ev.type == pg.QUIT:
                self.closed = True
            elif ev.type == pg.KEYDOWN:
                shift = bool(ev.mod & pg.KMOD_SHIFT)
                ctrl = bool(ev.mod & pg.KMOD_CTRL)
                if pg.K_F1 <= ev.key <= pg.K_F10:
                    out.append(Key(name="f%d" % (ev.key - pg.K_F1 + 1)))
                elif ev.key == pg.K_TAB:  # a key, so a page can use it (rename); else the select encoder
                    out.append(Key(name="backtab" if shift else "tab"))
                elif ev.key in (pg.K_PAGEUP, pg.K_PAGEDOWN):
                    out.append(Turn(1, 1 if ev.key == pg.K_PAGEUP else -1, self.clock(), fine=shift))
                elif ev.key == pg.K_INSERT:
                    out.append(Press(1 if ctrl else 0, "long" if shift else "short"))
                elif ev.key in names:
                    out.append(Key(name=names[ev.key]))
                elif ev.unicode and ev.unicode.isprintable() and not ctrl:
                    out.append(Key(char=ev.unicode))
        return out

    def close(self) -> None:
        self.pg.display.quit()
