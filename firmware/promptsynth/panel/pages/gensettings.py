"""Generation settings: model, steps, guidance, length, seed (locked or random), scheduler,
candidates, negative prompt. Ranges and choices come from the config's [generate] schema."""

from promptsynth.config import GenerateConfig, bounds, choices
from promptsynth.panel.pages.base import RowsPage, clamp, menu

KEYS = ("model", "steps", "guidance", "seconds", "seed", "scheduler", "candidates", "negative")
STEP = {"steps": 1, "guidance": 0.5, "seconds": 0.32, "candidates": 1}  # one detent (0.32 s suits the model)


class GenSettingsPage(RowsPage):
    title = "SETTINGS"
    rows = len(KEYS)

    def __init__(self):
        self.sel = 0

    def draw(self, d, m, ui):
        g = ui.gen
        rows = [
            "model %s" % g.model,
            "steps %d" % g.steps,
            "guid  %.1f" % g.guidance,
            "len   %.2f s" % g.seconds,
            "seed  %s" % ("random" if g.seed is None else g.seed),
            "sched %s" % g.scheduler,
            "cand  %d" % g.candidates,
            "neg   %s" % g.negative[:14],
        ]
        menu(d, rows, self.sel)

    def turn(self, ui, encoder, delta):
        if encoder != 1:
            return False
        g = ui.gen
        k = KEYS[self.sel]
        if k == "model":
            models = ui.model_ids()
            ui.set_gen(k, models[(models.index(g.model) + delta) % len(models)] if g.model in models else models[0])
        elif k == "seed":
            ui.set_gen(k, None if g.seed is None and delta < 0 else max((g.seed or 0) + delta, 0))
        elif k == "scheduler":
            options = choices(GenerateConfig, k)
            ui.set_gen(k, options[(options.index(g.scheduler) + delta) % len(options)])
        elif k in STEP:
            lo, hi = bounds(GenerateConfig, k)
            v = clamp(getattr(g, k) + STEP[k] * delta, lo, hi)
            ui.set_gen(k, v if isinstance(STEP[k], int) else round(v, 2))
        return True

    def press(self, ui, kind):
        if kind == "short":
            self.sel = (self.sel + 1) % len(KEYS)
            return True
        if kind == "long" and KEYS[self.sel] == "seed":  # lock the last seed / go back to random
            ui.set_gen("seed", None if ui.gen.seed is not None else ui.last_seed)
            return True
        return False
