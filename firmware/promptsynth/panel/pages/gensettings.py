"""Generation settings: model, steps, guidance, length, seed (locked or random), scheduler,
candidates, negative prompt."""
from promptsynth.panel.pages.base import RowsPage, clamp, menu

KEYS = ("model", "steps", "guidance", "seconds", "seed", "scheduler", "candidates", "negative")


class GenSettingsPage(RowsPage):
    title = "SETTINGS"
    rows = len(KEYS)

    def __init__(self):
        self.sel = 0

    def draw(self, d, m, ui):
        g = ui.gen
        rows = ["model %s" % g["model"], "steps %d" % g["steps"], "guid  %.1f" % g["guidance"],
                "len   %.2f s" % g["seconds"], "seed  %s" % ("random" if g["seed"] is None else g["seed"]),
                "sched %s" % g["scheduler"], "cand  %d" % g["candidates"], "neg   %s" % g["negative"][:14]]
        menu(d, rows, self.sel)

    def turn(self, ui, encoder, delta):
        if encoder != 1:
            return False
        g = ui.gen
        k = KEYS[self.sel]
        if k == "model":
            models = ui.model_ids()
            g["model"] = models[(models.index(g["model"]) + delta) % len(models)] if g["model"] in models else models[0]
        elif k == "steps":
            g["steps"] = clamp(g["steps"] + delta, 1, 200)
        elif k == "guidance":
            g["guidance"] = round(clamp(g["guidance"] + 0.5 * delta, 1.0, 10.0), 1)
        elif k == "seconds":
            g["seconds"] = round(clamp(g["seconds"] + 0.32 * delta, 0.64, 30.0), 2)
        elif k == "seed":
            g["seed"] = None if g["seed"] is None and delta < 0 else max((g["seed"] or 0) + delta, 0)
        elif k == "scheduler":
            g["scheduler"] = "ddim" if g["scheduler"] == "dpm" else "dpm"
        elif k == "candidates":
            g["candidates"] = clamp(g["candidates"] + delta, 1, 4)
        return True

    def press(self, ui, kind):
        if kind == "short":
            self.sel = (self.sel + 1) % len(KEYS)
            return True
        if kind == "long" and KEYS[self.sel] == "seed":   # lock the last seed / go back to random
            ui.gen["seed"] = None if ui.gen["seed"] is not None else ui.last_seed
            return True
        return False
