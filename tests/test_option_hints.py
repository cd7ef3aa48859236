"""Every ``--option`` that a message or hint in the source names is an option some parser of the project knows
(issue 12: the BiSeNet error suggested --parsing_weights, which never existed)."""
import io
import re
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCES = [p for folder in ("NeRFs", "data_util", "evaluation", "add_audio", "adnerf", "benchmarks", "scripts")
           for p in (ROOT / folder).rglob("*.py")]
OPTION = re.compile(r"(?<![\w-])--([A-Za-z][\w-]*)")
# options of other programs that messages quote (pip, ffmpeg): not ours to define
FOREIGN = {"upgrade", "index-url", "extra-index-url", "force-reinstall", "no-deps"}


def string_tokens(path: Path):
    for tok in tokenize.generate_tokens(io.StringIO(path.read_text()).readline):
        if tok.type == tokenize.STRING or tok.type == getattr(tokenize, "FSTRING_MIDDLE", -1):
            yield tok.start[0], tok.string


def known_options() -> set[str]:
    """Option strings of every parser: literal definitions ("--x" alone in a string) and the NeRF parsers
    (which add some options in loops), with --no-x for boolean switches."""
    from NeRFs.core.config import build_parser
    known = set()
    for kind in ("head", "torso"):
        known |= {s[2:] for act in build_parser(kind)._actions for s in act.option_strings}
    for path in SOURCES:
        for _, text in string_tokens(path):
            m = re.fullmatch(r"[rbuf]*[\"']--([A-Za-z][\w-]*)[\"']", text)
            if m:
                known.add(m.group(1))
    known |= {f"no-{name}" for name in known}
    return known


def test_every_option_named_in_a_message_exists():
    known = known_options()
    unknown = []
    for path in SOURCES:
        for line, text in string_tokens(path):
            if re.fullmatch(r"[rbuf]*[\"']--[\w-]+[\"']", text) or re.match(r"[rbuf]*(\"\"\"|\'\'\')", text):
                continue                       # a definition, or a docstring (prose, not a message)
            for name in OPTION.findall(text):
                if name not in known and name not in FOREIGN:
                    unknown.append(f"{path.relative_to(ROOT)}:{line}: --{name}")
    assert not unknown, "messages name options no parser defines:\n" + "\n".join(unknown)
