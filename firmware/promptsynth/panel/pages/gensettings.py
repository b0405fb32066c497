"""Generation settings: model, steps, guidance, length, seed (locked or random), scheduler,
candidates, negative prompt. Ranges and choices come from the config's [generate] schema."""

from promptsynth.config import GenerateConfig, bounds, choices
from promptsynth.panel import fmt
from promptsynth.panel.encoder import Dial
from promptsynth.panel.pages.base import RowsPage, menu, row

KEYS = ("model", "steps", "guidance", "seconds", "seed", "scheduler", "candidates", "negative")
# one slow detent, resolution (0.32 s of length suits the model's latent frames)
STEP = {"steps": (1, 1), "guidance": (0.5, 0.1), "seconds": (0.32, 0.01), "candidates": (1, 1)}


class GenSettingsPage(RowsPage):
    title = "SETTINGS"
    rows = len(KEYS)

    def __init__(self):
        self.sel = 0

    def draw(self, d, m, ui):
        g = ui.gen
        rows = [
            row("model", fmt.choice(g.model)),
            row("steps", fmt.count(g.steps)),
            row("guidance", fmt.decimal(g.guidance, 1)),
            row("length", fmt.seconds(g.seconds)),
            row("seed", "random" if g.seed is None else fmt.count(g.seed)),
            row("scheduler", fmt.choice(g.scheduler)),
            row("candidates", fmt.count(g.candidates)),
            row("negative", g.negative[:12] if g.negative else fmt.MISSING),
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
            step, quantum = STEP[k]
            v = Dial(lo, hi, step, quantum).turn(getattr(g, k), delta, ui.turn_speed, ui.fine)
            ui.set_gen(k, int(v) if isinstance(step, int) else round(v, 2))
        return True

    def press(self, ui, kind):
        if kind == "short":
            self.sel = (self.sel + 1) % len(KEYS)
            return True
        if kind == "long" and KEYS[self.sel] == "seed":  # lock the last seed / go back to random
            ui.set_gen("seed", None if ui.gen.seed is not None else ui.jobs.last_seed)
            return True
        return False
