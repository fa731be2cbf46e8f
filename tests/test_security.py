"""No unsafe deserialisation or remote code anywhere in the package (a grep, so it stays cheap).

The first test fails on any USE of pickle-based loading or remote code; the second holds the
package to the letter of the promise: the three strings do not appear in its sources at all.
"""

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGE_DIRS = ("khabar", "model", "training", "data")
SUFFIXES = (".py", ".yaml", ".yml", ".json", ".cfg", ".toml")
FORBIDDEN = re.compile(
    r"\bimport\s+(?:c?pickle|dill|cloudpickle|joblib)\b"
    r"|\bfrom\s+(?:c?pickle|dill|cloudpickle|joblib)\s+import\b"
    r"|\bc?pickle\s*\.\s*loads?\s*\("
    r"|\bjoblib\s*\.\s*load\s*\("
    r"|allow_pickle\s*=\s*True"
    r"|weights_only\s*=\s*False"
    r"|trust_remote_code\s*=\s*True"
)
TORCH_LOAD = re.compile(r"\btorch\s*\.\s*load\s*\(")
SAFE_LOAD = re.compile(r"weights_only\s*=\s*True")


def _unsafe(line: str) -> bool:
    # torch.load only with the restricted unpickler (weights_only=True) on the same line
    return bool(FORBIDDEN.search(line)) or bool(TORCH_LOAD.search(line) and not SAFE_LOAD.search(line))


def test_no_pickle_no_unsafe_torch_load_no_remote_code():
    offenders = []
    for d in PACKAGE_DIRS:
        for path in sorted((REPO / d).rglob("*")):
            if not path.is_file() or path.suffix not in SUFFIXES:
                continue
            for lineno, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
                if _unsafe(line):
                    offenders.append(f"{path.relative_to(REPO)}:{lineno}: {line.strip()}")
    assert not offenders, "unsafe patterns:\n" + "\n".join(offenders)


def test_the_grep_catches_what_it_should():
    for bad in ("import pickle", "torch.load(p)", "pickle.load(fh)", "torch.load(p, weights_only=False)",
                "AutoModel.from_pretrained(p, trust_remote_code=True)", "np.load(p, allow_pickle=True)"):
        assert _unsafe(bad), bad
    for ok in ("np.load(p, allow_pickle=False)", "# never pickle", "save_file(tensors, path)",
               "torch.load(p, weights_only=True)"):
        assert not _unsafe(ok), ok


def test_the_three_strings_appear_nowhere_in_the_package():
    words = ("pickle", "weights_only=False", "trust_remote_code=True")
    hits = []
    for d in PACKAGE_DIRS:
        for path in sorted((REPO / d).rglob("*")):
            if path.is_file() and path.suffix in SUFFIXES:
                text = path.read_text(encoding="utf-8", errors="replace")
                hits += [f"{path.relative_to(REPO)}: {w}" for w in words if w in text]
    assert not hits, "\n".join(hits)
