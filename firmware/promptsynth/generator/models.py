"""The models the instrument offers, where their weights live, and how they get there."""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional

LICENCE = "CC-BY-NC-SA 4.0 (non-commercial use only)"
CONFIGS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "configs")


@dataclass(frozen=True)
class ModelInfo:
    id: str
    pipeline: str  # diffusers class name
    repo: str  # Hugging Face repo the weights come from ("" = built locally)
    rate: int = 16000
    min_seconds: float = 0.5
    max_seconds: float = 30.0
    licence: str = LICENCE
    size: str = ""
    notes: str = ""


MODELS: Dict[str, ModelInfo] = {
    m.id: m
    for m in [
        ModelInfo(
            "audioldm2",
            "AudioLDM2Pipeline",
            "cvssp/audioldm2",
            size="1.1 B",
            notes="preferred overall in the listening study; the default",
        ),
        ModelInfo(
            "audioldm2-large",
            "AudioLDM2Pipeline",
            "cvssp/audioldm2-large",
            size="1.5 B",
            notes="larger, slower; not better than audioldm-m-full in the study",
        ),
        ModelInfo(
            "audioldm2-music",
            "AudioLDM2Pipeline",
            "cvssp/audioldm2-music",
            size="1.1 B",
            notes="music; tends to repetitive structures",
        ),
        ModelInfo(
            "audioldm-s-full-v2",
            "AudioLDMPipeline",
            "cvssp/audioldm-s-full-v2",
            size="421 M",
            notes="AudioLDM 1, small",
        ),
        ModelInfo(
            "audioldm-m-full",
            "AudioLDMPipeline",
            "cvssp/audioldm-m-full",
            size="652 M",
            notes="best on effects and production terms in the study",
        ),
        ModelInfo(
            "audioldm-l-full", "AudioLDMPipeline", "cvssp/audioldm-l-full", size="975 M", notes="AudioLDM 1, large"
        ),
        ModelInfo(
            "tiny",
            "AudioLDM2Pipeline",
            "",
            licence="random weights, no licence terms",
            size="~2 M",
            notes="random AudioLDM 2 with the real geometry and tiny channels: for the simulator and tests "
            "(makes noise)",
        ),
    ]
}
DEFAULT_MODEL = "audioldm2"

# files a diffusers-layout model needs at run time; weights only as safetensors
WEIGHT_PATTERNS = ["*.json", "*.safetensors", "*.txt", "*.model", "tokenizer*/*", "*/vocab*", "*/merges*", "*/spiece*"]


class ModelError(Exception):
    pass


def cache_dir(state_dir: str) -> str:
    return os.path.join(state_dir, "models")


def model_dir(model: str, state_dir: str) -> str:
    """Where a model's files are: a local directory given as the model, or the cache."""
    if os.path.isabs(model) or os.sep in model:
        return model
    if model not in MODELS:
        raise ModelError(
            "unknown model %r (known: %s, or a local directory in diffusers layout)" % (model, ", ".join(MODELS))
        )
    return os.path.join(cache_dir(state_dir), model)


def info_for(model: str, path: Optional[str] = None) -> ModelInfo:
    """Registry entry, or one derived from a local directory's model_index.json."""
    if model in MODELS:
        return MODELS[model]
    cls = pipeline_class(path or model)
    return ModelInfo(model, cls, "", licence="see the model's own licence", notes="local directory")


def pipeline_class(path: str) -> str:
    try:
        with open(os.path.join(path, "model_index.json")) as fh:
            cls = json.load(fh).get("_class_name", "")
    except (OSError, ValueError) as e:
        raise ModelError("%s: not a diffusers model directory (%s)" % (path, e)) from None
    if cls not in ("AudioLDM2Pipeline", "AudioLDMPipeline"):
        raise ModelError("%s: %s is not an AudioLDM or AudioLDM 2 pipeline" % (path, cls or "unknown class"))
    return cls


def is_installed(path: str) -> bool:
    """A model directory with its index and every component's weights as safetensors."""
    try:
        with open(os.path.join(path, "model_index.json")) as fh:
            index = json.load(fh)
    except (OSError, ValueError):
        return False
    for name, value in index.items():
        if name.startswith("_") or not isinstance(value, list) or value[0] is None:
            continue
        sub = os.path.join(path, name)
        if not os.path.isdir(sub):
            return False
        if name in (
            "unet",
            "vae",
            "text_encoder",
            "text_encoder_2",
            "language_model",
            "projection_model",
            "vocoder",
        ) and not any(f.endswith(".safetensors") for f in os.listdir(sub)):
            return False
    return True


def dir_size(path: str) -> int:
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            try:
                total += os.path.getsize(os.path.join(root, f))
            except OSError:
                pass
    return total


def not_installed_message(model: str) -> str:
    if model == "tiny":
        return "the tiny model is not built yet (it is built on first use)"
    return "model %r is not installed: run `promptsynth models fetch %s` (needs network once)" % (model, model)


def listing(state_dir: str) -> List[Dict[str, object]]:
    rows = []
    for m in MODELS.values():
        path = model_dir(m.id, state_dir)
        ok = is_installed(path)
        rows.append(
            {
                "id": m.id,
                "installed": ok,
                "bytes": dir_size(path) if ok else 0,
                "size": m.size,
                "licence": m.licence,
                "repo": m.repo,
                "notes": m.notes,
            }
        )
    return rows


def _wanted(rel: str) -> bool:
    """Files worth copying: configs, tokenizers, safetensors weights. Never pickled weights."""
    base = os.path.basename(rel)
    if base.endswith((".bin", ".ckpt", ".pt", ".pth", ".pkl", ".msgpack", ".h5", ".onnx")):
        return False
    return (
        base.endswith((".json", ".safetensors", ".txt", ".model"))
        or "tokenizer" in rel
        or "vocab" in base
        or "merges" in base
    )


# ---- folders every supported stack loads -----------------------------------------------------
# transformers 5 records its tokenizers as RobertaTokenizer / T5Tokenizer (one class, tokenizer.json);
# on transformers 4 those names are the slow classes, which need vocab.json + merges.txt or a
# sentencepiece model. The *Fast names mean the tokenizer.json class on both.
FAST_TOKENIZERS = {"RobertaTokenizer": "RobertaTokenizerFast", "T5Tokenizer": "T5TokenizerFast"}


def _safetensors_header(path: str) -> dict:
    with open(path, "rb") as fh:
        n = int.from_bytes(fh.read(8), "little")
        return json.loads(fh.read(n))


def missing_format(path: str) -> List[str]:
    """Weight files without safetensors' ``{"format": "pt"}`` metadata, which transformers 4.46
    (the device's) requires; files written by ``safetensors.save_file`` alone lack it."""
    bad = []
    for root, _, names in os.walk(path):
        for n in sorted(names):
            if n.endswith(".safetensors"):
                f = os.path.join(root, n)
                if (_safetensors_header(f).get("__metadata__") or {}).get("format") is None:
                    bad.append(os.path.relpath(f, path))
    return bad


def _add_format(path: str) -> None:
    """Rewrite one safetensors file's header with format "pt"; the tensor bytes are copied as they are."""
    with open(path, "rb") as src:
        n = int.from_bytes(src.read(8), "little")
        header = json.loads(src.read(n))
        header["__metadata__"] = dict(header.get("__metadata__") or {}, format="pt")
        raw = json.dumps(header, separators=(",", ":")).encode()
        raw += b" " * (-len(raw) % 8)  # keep the tensor data 8-byte aligned
        tmp = path + ".tmp"
        with open(tmp, "wb") as dst:
            dst.write(len(raw).to_bytes(8, "little"))
            dst.write(raw)
            shutil.copyfileobj(src, dst, 1 << 20)
    os.replace(tmp, path)


def fast_tokenizer_index(path: str):
    """``path``'s model_index with each tokenizer that has a tokenizer.json recorded by its *Fast
    name, and a list of the renames (empty: the index is fine as it is)."""
    with open(os.path.join(path, "model_index.json")) as fh:
        index = json.load(fh)
    renamed = []
    for name, value in index.items():
        if (
            isinstance(value, list)
            and len(value) == 2
            and value[1] in FAST_TOKENIZERS
            and os.path.exists(os.path.join(path, name, "tokenizer.json"))
        ):
            index[name] = [value[0], FAST_TOKENIZERS[value[1]]]
            renamed.append("%s: %s -> %s" % (name, value[1], index[name][1]))
    return index, renamed


def make_portable(path: str) -> List[str]:
    """Make a diffusers-layout folder load on every supported stack (transformers 4.46 and 5,
    diffusers 0.31 to today): tokenizers that have a tokenizer.json are recorded by their *Fast
    name, and every safetensors file gets the format metadata. Returns what was changed."""
    changed = []
    index_path = os.path.join(path, "model_index.json")
    index, renamed = fast_tokenizer_index(path)
    if renamed:
        with open(index_path + ".tmp", "w") as fh:
            json.dump(index, fh, indent=2)
        os.replace(index_path + ".tmp", index_path)
        changed.extend(renamed)
    for rel in missing_format(path):
        _add_format(os.path.join(path, rel))
        changed.append("%s: format metadata added" % rel)
    return changed


def fetch(
    model: str, state_dir: str, source: Optional[str] = None, progress: Optional[Callable[[int, int], None]] = None
) -> str:
    """Put a model's weights into the cache; returns its directory.

    ``source``: a local directory holding the model (a USB stick, a mirror) to copy from;
    without it the weights are downloaded from the Hugging Face hub (the device, online).
    The copy goes to a temporary folder beside the cache and is renamed into place at the end,
    so an interrupted fetch never leaves a half model that looks installed.
    """
    if model not in MODELS or not MODELS[model].repo:
        raise ModelError(
            "%r cannot be fetched (fetchable: %s)" % (model, ", ".join(m for m in MODELS if MODELS[m].repo))
        )
    dest = model_dir(model, state_dir)
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    tmp = dest + ".partial"
    if os.path.exists(tmp):
        shutil.rmtree(tmp)
    if source is not None:
        if not is_installed(source):
            raise ModelError("%s does not hold a complete model (model_index.json and safetensors weights)" % source)
        files = []
        for root, _, names in os.walk(source):
            for n in names:
                rel = os.path.relpath(os.path.join(root, n), source)
                if _wanted(rel):
                    files.append(rel)
        total = sum(os.path.getsize(os.path.join(source, f)) for f in files)
        done = 0
        for rel in sorted(files):
            target = os.path.join(tmp, rel)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with open(os.path.join(source, rel), "rb") as src, open(target, "wb") as dst:
                while True:
                    chunk = src.read(1 << 20)
                    if not chunk:
                        break
                    dst.write(chunk)
                    done += len(chunk)
                    if progress:
                        progress(done, total)
                dst.flush()
                os.fsync(dst.fileno())
    else:  # pragma: no cover - needs the network (the device, online)
        from huggingface_hub import snapshot_download

        snapshot_download(MODELS[model].repo, local_dir=tmp, allow_patterns=WEIGHT_PATTERNS)
    if not is_installed(tmp):
        shutil.rmtree(tmp, ignore_errors=True)
        raise ModelError("the fetched files do not form a complete model")
    make_portable(tmp)
    if os.path.exists(dest):
        shutil.rmtree(dest)
    os.rename(tmp, dest)
    return dest
