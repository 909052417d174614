"""The download engine against the fake Civitai: resume, verification, refusals, placement."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import pytest
from sdhub.hub.civitai import CivitaiClient
from sdhub.hub.download import (
    Downloader,
    DownloadJob,
    DownloadSource,
    DownloadStatus,
    Expected,
    Phase,
    Progress,
    check_kind,
)
from sdhub.hub.errors import (
    Archived,
    DownloadsDisabled,
    EarlyAccess,
    HashMismatch,
    KindMismatch,
    LoginRequired,
    NotAModelFile,
    PlacementError,
    TransientError,
    UnsafeFile,
)
from sdhub.hub.filenames import parse_content_disposition, sanitize_filename
from sdhub.hub.http import RetryPolicy, Site
from sdhub.models.kinds import Base, Component, FileFormat, Kind, Verdict
from sdhub.models.layouts import Layout
from sdhub.models.report import Classification, FileReport, Safety
from support.fake_civitai import TOKEN, FakeCivitai, FakeVersion
from support.http_fake import Failure
from support.hub_files import (
    FAST_RETRY,
    checkpoint_bytes,
    embedding_bytes,
    lora_bytes,
    malicious_ckpt_bytes,
)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "webui"


def publish(
    civ: FakeCivitai,
    name: str,
    data: bytes,
    *,
    type: str = "LORA",
    base_model: str = "SD 1.5",
    **file_fields: object,
) -> FakeVersion:
    model = civ.add_model(name.split(".")[0], type=type)
    version = civ.add_version(model, base_model=base_model)
    civ.add_file(version, name, data, **file_fields)  # type: ignore[arg-type]
    return version


def job_for(civ: FakeCivitai, fake: FakeVersion, token: str | None = None) -> DownloadJob:
    client = CivitaiClient(civ.base_url, token, retry=FAST_RETRY)
    return client.download_job(client.version(fake.id))


def engine(root: Path, layout: Layout = Layout.A1111, **kwargs: object) -> Downloader:
    kwargs.setdefault("retry", FAST_RETRY)
    return Downloader(root, layout, **kwargs)  # type: ignore[arg-type]


def no_partials(root: Path) -> bool:
    return not list(root.rglob("*.part")) if root.exists() else True


# --- the happy path ---------------------------------------------------------------------


def test_civitai_download_is_verified_and_placed_by_kind(civ: FakeCivitai, root: Path) -> None:
    data = lora_bytes(1)
    fake = publish(civ, "ink_style.safetensors", data)
    progress: list[Progress] = []
    result = engine(root, on_progress=progress.append).fetch(job_for(civ, fake))

    assert result.status is DownloadStatus.DOWNLOADED
    assert result.path == root / "models" / "Lora" / "ink_style.safetensors"
    assert result.path.read_bytes() == data
    assert result.hashes is not None
    assert result.hashes.sha256 == fake.files[0].hashes["SHA256"]
    assert result.hashes.autov3 == fake.files[0].hashes["AutoV3"]
    assert result.hashes.blake3 == fake.files[0].hashes["BLAKE3"]
    assert result.report is not None and result.report.kind is Kind.LORA
    assert result.report.path == result.path
    assert result.bytes_fetched == len(data) and result.resumed_from == 0
    assert no_partials(root)
    # 307 from the API host to the signed file URL on another host.
    assert civ.count(f"/api/download/models/{fake.id}") == 1
    assert civ.count("/files/") == 1
    assert progress[0].phase is Phase.STARTING and progress[-1].phase is Phase.DONE
    assert any(p.phase is Phase.DOWNLOADING and p.total == len(data) for p in progress)
    record = result.to_json()
    assert record["status"] == "downloaded" and record["kind"] == "lora"
    assert record["path"] == str(result.path) and record["error"] is None
    assert record["hashes"]["sha256"] == fake.files[0].hashes["SHA256"]


def test_a_model_served_as_text_plain_is_still_a_model(civ: FakeCivitai, root: Path) -> None:
    fake = publish(civ, "mislabelled.safetensors", lora_bytes(22), content_type="text/plain")
    result = engine(root).fetch(job_for(civ, fake))
    assert result.status is DownloadStatus.DOWNLOADED


def test_comfyui_layout_and_embeddings(civ: FakeCivitai, root: Path) -> None:
    fake = publish(civ, "easyneg.safetensors", embedding_bytes(2), type="TextualInversion")
    result = engine(root, Layout.COMFYUI).fetch(job_for(civ, fake))
    assert result.path == root / "models" / "embeddings" / "easyneg.safetensors"


def test_bytes_decide_the_folder_when_the_label_is_vague(civ: FakeCivitai, root: Path) -> None:
    fake = publish(civ, "mystery.safetensors", lora_bytes(3), type="Other")
    result = engine(root).fetch(job_for(civ, fake))
    assert result.path == root / "models" / "Lora" / "mystery.safetensors"
    assert no_partials(root)


def test_name_from_content_disposition_when_none_is_given(civ: FakeCivitai, root: Path) -> None:
    fake = publish(civ, "Ünïcode style.safetensors", lora_bytes(4))
    job = DownloadJob(
        DownloadSource(f"{civ.base_url}/api/download/models/{fake.id}", Site.CIVITAI),
        expected=Expected(kind=Kind.LORA),
    )
    result = engine(root).fetch(job)
    assert result.path == root / "models" / "Lora" / "Ünïcode style.safetensors"


# --- resume -----------------------------------------------------------------------------


def test_dropped_connection_resumes_with_a_fresh_signed_url(root: Path) -> None:
    with FakeCivitai(tokens={TOKEN}, signed_uses=1) as civ:  # every signed URL works once
        data = checkpoint_bytes(5)
        fake = publish(civ, "model.safetensors", data, type="Checkpoint")
        civ.fail("/files/", Failure.DROP, after_bytes=100_000)
        civ.fail("/files/", Failure.DROP, after_bytes=50_000)
        result = engine(root).fetch(job_for(civ, fake))

        assert result.path == root / "models" / "Stable-diffusion" / "model.safetensors"
        assert result.path.read_bytes() == data
        # Each attempt asked the API again for a new signed URL, then sent Range.
        assert civ.count(f"/api/download/models/{fake.id}") == 3
        ranges = [r.header("Range") for r in civ.requests_to("/files/")]
        assert ranges == [None, "bytes=100000-", "bytes=150000-"]
        assert result.bytes_fetched == len(data)
        assert no_partials(root)


def test_resume_across_runs_keeps_the_part_after_a_transient_failure(
    civ: FakeCivitai, root: Path
) -> None:
    data = checkpoint_bytes(6)
    fake = publish(civ, "big.safetensors", data, type="Checkpoint")
    civ.fail("/files/", Failure.DROP, after_bytes=200_000)
    civ.fail("/api/download/", Failure.SERVER_ERROR, skip=1)  # the retry finds the API down
    impatient = engine(root, retry=RetryPolicy(attempts=1, base_delay=0.001))
    with pytest.raises(TransientError) as info:
        impatient.fetch(job_for(civ, fake))
    assert info.value.transient
    part = root / "models" / "Stable-diffusion" / "big.safetensors.part"
    assert part.stat().st_size == 200_000
    assert not part.with_suffix("").exists()  # nothing under the final name

    result = engine(root).fetch(job_for(civ, fake))
    assert result.resumed_from == 200_000
    assert result.bytes_fetched == len(data) - 200_000
    assert result.path is not None and result.path.read_bytes() == data
    assert not part.exists()


def test_a_server_that_ignores_range_restarts_cleanly(civ: FakeCivitai, root: Path) -> None:
    data = checkpoint_bytes(7)
    fake = publish(civ, "norange.safetensors", data, type="Checkpoint")
    civ.ignore_range = True
    civ.fail("/files/", Failure.DROP, after_bytes=123_456)
    result = engine(root).fetch(job_for(civ, fake))
    assert result.path is not None and result.path.read_bytes() == data
    assert result.bytes_fetched == 123_456 + len(data)


def test_a_stale_part_from_another_upload_is_replaced(civ: FakeCivitai, root: Path) -> None:
    data = lora_bytes(8)
    fake = publish(civ, "stale.safetensors", data)
    part = root / "models" / "Lora" / "stale.safetensors.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(lora_bytes(99)[:30_000])  # an older file's first bytes
    result = engine(root).fetch(job_for(civ, fake))
    assert result.path is not None and result.path.read_bytes() == data
    assert result.resumed_from == 0  # the resumed try failed the hash; the clean one won


# --- refusals: nothing placed, no .part left -------------------------------------------------


def test_wrong_published_hash_is_refused(civ: FakeCivitai, root: Path) -> None:
    fake = publish(civ, "liar.safetensors", lora_bytes(9), published_sha256="AB" * 32)
    with pytest.raises(HashMismatch) as info:
        engine(root).fetch(job_for(civ, fake))
    assert "ABABABABABAB" in str(info.value)
    assert not list(root.rglob("liar*"))


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b"<!DOCTYPE html><html><body>Please log in</body></html>", "text/html; charset=utf-8"),
        (b'{"error":"Unauthorized","message":"log in"}', "application/json"),
        (b'{"error":"Unauthorized","message":"log in"}', "application/octet-stream"),
        (b"\n\n  <html><head><title>Login</title></head></html>", "application/octet-stream"),
    ],
    ids=["html", "json", "json-as-binary", "html-as-binary"],
)
def test_error_bodies_are_never_saved_as_models(
    civ: FakeCivitai, root: Path, content: bytes, content_type: str
) -> None:
    fake = publish(civ, "page.safetensors", content, content_type=content_type)
    with pytest.raises(NotAModelFile) as info:
        engine(root).fetch(job_for(civ, fake))
    assert "instead of a model file" in str(info.value)
    assert not list(root.rglob("page*"))


def test_a_tiny_model_is_refused(civ: FakeCivitai, root: Path) -> None:
    junk = bytes(range(256)) * 4  # 1 KB of binary that is no model
    fake = publish(civ, "tiny.safetensors", junk)
    with pytest.raises(NotAModelFile, match="not a valid model file"):
        engine(root).fetch(job_for(civ, fake))
    assert not list(root.rglob("tiny*"))


def test_a_truncated_upload_with_a_published_size_is_refused(civ: FakeCivitai, root: Path) -> None:
    data = lora_bytes(10)
    fake = publish(
        civ, "cut.safetensors", data[:1024], publish_hashes=False, published_size=len(data)
    )
    with pytest.raises(HashMismatch, match="published size"):
        engine(root).fetch(job_for(civ, fake))
    assert not list(root.rglob("cut*"))


def test_real_small_embeddings_are_fine(civ: FakeCivitai, root: Path) -> None:
    data = embedding_bytes(11, vectors=1)
    assert len(data) < 2000
    fake = publish(civ, "tinyneg.safetensors", data, type="TextualInversion")
    result = engine(root).fetch(job_for(civ, fake))
    assert result.path == root / "embeddings" / "tinyneg.safetensors"


def test_kind_contradicting_the_label_is_refused(civ: FakeCivitai, root: Path) -> None:
    fake = publish(civ, "notalora.safetensors", checkpoint_bytes(12), type="LORA")
    with pytest.raises(KindMismatch) as info:
        engine(root).fetch(job_for(civ, fake))
    assert "says lora, but the file is a checkpoint" in str(info.value)
    assert not list(root.rglob("notalora*"))


def test_dangerous_pickles_are_refused(civ: FakeCivitai, root: Path) -> None:
    fake = publish(
        civ, "evil.ckpt", malicious_ckpt_bytes(), type="Checkpoint", format="PickleTensor"
    )
    with pytest.raises(UnsafeFile, match="run code"):
        engine(root).fetch(job_for(civ, fake))
    assert not list(root.rglob("evil*"))


# --- the service's refusals --------------------------------------------------------------


def test_login_required_names_the_token_and_never_leaks_it(
    civ: FakeCivitai, root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    fake = publish(civ, "gated.safetensors", lora_bytes(13))
    fake.login_required = True
    with pytest.raises(LoginRequired) as info:
        engine(root).fetch(job_for(civ, fake))
    assert "set CIVITAI_TOKEN" in str(info.value)
    assert "requires you to be logged in" in str(info.value)
    assert no_partials(root)

    result = engine(root).fetch(job_for(civ, fake, TOKEN))
    assert result.status is DownloadStatus.DOWNLOADED
    api = civ.requests_to(f"/api/download/models/{fake.id}")[-1]
    assert api.header("Authorization") == f"Bearer {TOKEN}"
    assert "token" not in api.query
    # The signed URL lives on another host: the key is not sent there.
    assert civ.requests_to("/files/")[-1].header("Authorization") is None
    assert TOKEN not in caplog.text


@pytest.mark.parametrize(
    ("setup", "error", "words"),
    [
        ("early", EarlyAccess, "early access until 2030-01-01"),
        ("disabled", DownloadsDisabled, "disabled downloads"),
        ("archived", Archived, "archived"),
    ],
)
def test_service_refusals_are_typed(
    civ: FakeCivitai, root: Path, setup: str, error: type[Exception], words: str
) -> None:
    fake = publish(civ, "refused.safetensors", lora_bytes(14))
    job = job_for(civ, fake)
    if setup == "early":
        fake.early_access_deadline = "2030-01-01T00:00:00.000Z"
    elif setup == "disabled":
        fake.downloads_disabled = True
    else:
        fake.model.mode = "Archived"
    with pytest.raises(error) as info:  # type: ignore[call-overload]
        engine(root).fetch(job)
    assert words in str(info.value)
    assert civ.count(f"/api/download/models/{fake.id}") == 1  # not retried


@pytest.mark.parametrize(
    "failure",
    [Failure.RATE_LIMIT, Failure.SERVER_ERROR, Failure.CLOUDFLARE, Failure.RESET],
)
def test_transient_download_faults_are_retried(
    civ: FakeCivitai, root: Path, failure: Failure
) -> None:
    fake = publish(civ, "retry.safetensors", lora_bytes(15))
    civ.fail("/api/download/", failure, times=2)
    result = engine(root).fetch(job_for(civ, fake))
    assert result.status is DownloadStatus.DOWNLOADED
    assert civ.count("/api/download/") == 3


def test_an_expired_signed_url_is_refreshed(civ: FakeCivitai, root: Path) -> None:
    fake = publish(civ, "expiring.safetensors", lora_bytes(16))
    civ.signed_ttl = -1  # every signed URL is already expired
    with pytest.raises(TransientError):
        engine(root).fetch(job_for(civ, fake))
    assert civ.count("/api/download/") == FAST_RETRY.attempts
    civ.signed_ttl = 60
    assert engine(root).fetch(job_for(civ, fake)).status is DownloadStatus.DOWNLOADED


# --- names, clashes, the library boundary --------------------------------------------------


@pytest.mark.parametrize(
    ("server_name", "placed"),
    [
        ("../../etc/passwd.safetensors", "passwd.safetensors"),
        ("/abs/path/x.safetensors", "x.safetensors"),
        ("..\\..\\win.safetensors", "win.safetensors"),
        ("CON.safetensors", "_CON.safetensors"),
        ("nul", "_nul"),
        ("bad\x00na\x1bme\x7f.safetensors", "badname.safetensors"),
        ("..", "download"),
        ('a<b>:c"d|e?f*.safetensors', "a_b__c_d_e_f_.safetensors"),
    ],
)
def test_server_file_names_are_sanitised(
    civ: FakeCivitai, root: Path, server_name: str, placed: str
) -> None:
    fake = publish(civ, server_name, lora_bytes(17))
    for with_name in (True, False):
        job = job_for(civ, fake)
        if not with_name:
            job.filename = None  # from Content-Disposition instead
        result = engine(root).fetch(job)
        assert result.path is not None
        assert result.path.parent == root / "models" / "Lora"
        assert result.path.name == placed
        assert result.path.resolve().is_relative_to(root.resolve())
    assert not (root.parent / "etc").exists()


def test_name_clash_gets_a_suffix_and_identical_bytes_are_recognised(
    civ: FakeCivitai, root: Path
) -> None:
    target = root / "models" / "Lora" / "same.safetensors"
    target.parent.mkdir(parents=True)
    target.write_bytes(lora_bytes(18))  # a different file under the same name
    fake = publish(civ, "same.safetensors", lora_bytes(19))

    first = engine(root).fetch(job_for(civ, fake))
    assert first.status is DownloadStatus.DOWNLOADED
    assert first.path == target.with_name("same-2.safetensors")
    assert target.read_bytes() == lora_bytes(18)  # never overwritten
    again = engine(root).fetch(job_for(civ, fake))
    assert again.status is DownloadStatus.EXISTS and again.path == first.path
    assert no_partials(root)


def test_destination_outside_the_library_is_refused(civ: FakeCivitai, root: Path) -> None:
    fake = publish(civ, "out.safetensors", lora_bytes(20))
    job = job_for(civ, fake)
    job.dest = Path("../../elsewhere")
    with pytest.raises(PlacementError, match="outside the library root"):
        engine(root).fetch(job)
    job.dest = Path("models/Lora/styles")
    assert engine(root).fetch(job).path == root / "models" / "Lora" / "styles" / "out.safetensors"


def test_a_folder_for_unplaceable_kinds_must_be_given(civ: FakeCivitai, root: Path) -> None:
    # Bytes the classifier cannot name and a label that names no folder: ask for a destination.
    import numpy as np
    from safetensors.numpy import save

    data = save({"something.weight": np.zeros((64, 64), dtype=np.float16)})
    fake = publish(civ, "thing.safetensors", data, type="Poses")
    with pytest.raises(PlacementError, match="give a destination"):
        engine(root).fetch(job_for(civ, fake))
    assert no_partials(root)


# --- idempotency and parallel jobs ---------------------------------------------------------


def test_already_had_files_are_not_downloaded_again(civ: FakeCivitai, root: Path) -> None:
    fake = publish(civ, "have.safetensors", lora_bytes(21))
    sha = fake.files[0].hashes["SHA256"]
    known = {sha: root / "models" / "Lora" / "elsewhere.safetensors"}
    asked: list[str] = []

    def have(value: str) -> Path | None:
        asked.append(value)
        return known.get(value)

    result = engine(root, have=have).fetch(job_for(civ, fake))
    assert result.status is DownloadStatus.SKIPPED and result.path == known[sha]
    assert asked == [sha]
    assert civ.count("/api/download/") == 0

    # Without a published hash the check happens after the bytes came: discard the copy.
    job = job_for(civ, fake)
    job.expected = Expected(kind=Kind.LORA)
    result = engine(root, have=have).fetch(job)
    assert result.status is DownloadStatus.SKIPPED and result.hashes is not None
    assert not list(root.rglob("have*"))


def test_parallel_jobs_report_progress_and_every_result(civ: FakeCivitai, root: Path) -> None:
    fakes = [publish(civ, f"par{i}.safetensors", lora_bytes(30 + i)) for i in range(5)]
    bad = publish(civ, "parbad.safetensors", lora_bytes(40), published_sha256="00" * 32)
    seen: list[Progress] = []
    lock = threading.Lock()

    def on_progress(p: Progress) -> None:
        with lock:
            seen.append(p)

    jobs = [job_for(civ, f) for f in [*fakes, bad]]
    # The same file twice in one batch: fetched once.
    jobs.append(job_for(civ, fakes[0]))
    results = list(engine(root, jobs=3, on_progress=on_progress).run(jobs))

    assert len(results) == 7
    statuses = sorted(r.status.value for r in results)
    assert statuses == ["downloaded"] * 5 + ["failed", "skipped"]
    assert civ.count("/files/") == 6
    failed = next(r for r in results if not r.ok)
    assert isinstance(failed.error, HashMismatch) and failed.job.filename == "parbad.safetensors"
    done = {p.key for p in seen if p.phase is Phase.DONE}
    assert len(done) >= 5
    assert len(list((root / "models" / "Lora").glob("par*.safetensors"))) == 5
    assert no_partials(root)


# --- units: names, headers, kind rules ---------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "name"),
    [
        ('attachment; filename="a b.safetensors"', "a b.safetensors"),
        ("attachment; filename=plain.ckpt", "plain.ckpt"),
        (
            "attachment; filename=\"fallback.pt\"; filename*=UTF-8''%C3%BCber%20style.pt",
            "über style.pt",
        ),
        ('attachment; filename="q\\"uote.pt"', 'q"uote.pt'),
        ("inline", None),
        (None, None),
        # Raw UTF-8 bytes in the header, as http.client hands them over (Latin-1).
        ('attachment; filename="Ã¼ber.pt"', "über.pt"),
        ('attachment; filename="caf\xe9.pt"', "caf\xe9.pt"),  # real Latin-1 stays
    ],
)
def test_content_disposition(header: str | None, name: str | None) -> None:
    assert parse_content_disposition(header) == name


def test_sanitised_names_are_bounded() -> None:
    long = "é" * 300 + ".safetensors"
    cut = sanitize_filename(long)
    assert cut.endswith(".safetensors") and len(cut.encode()) <= 200
    assert sanitize_filename("COM1.tar.gz") == "_COM1.tar.gz"
    assert sanitize_filename("  .hidden.pt  ") == "hidden.pt"
    assert sanitize_filename("") == "download"


def _report(kind: Kind, component: Component | None = None, base: Base = Base.SD1) -> FileReport:
    return FileReport(
        path=Path("x"),
        size=1,
        format=FileFormat.SAFETENSORS,
        classification=Classification(kind=kind, base=base, component=component),
        safety=Safety(Verdict.SAFE),
    )


def test_kind_rules_fatal_and_warnings() -> None:
    lora = Expected(kind=Kind.LORA, label="Civitai type LORA")
    with pytest.raises(KindMismatch):
        check_kind(lora, _report(Kind.CHECKPOINT))
    with pytest.raises(KindMismatch):
        check_kind(Expected(kind=Kind.CHECKPOINT), _report(Kind.VAE))
    assert check_kind(lora, _report(Kind.LORA)) == []
    # A UNet-only "checkpoint": a warning, the bytes decide.
    unet = check_kind(
        Expected(kind=Kind.CHECKPOINT, label="Civitai type Checkpoint"),
        _report(Kind.OTHER, Component.DIFFUSION_MODEL),
    )
    assert unet == [
        "Civitai type Checkpoint says checkpoint, the file looks like other/diffusion-model"
    ]
    # A vague label: nothing to contradict.
    assert (
        check_kind(Expected(kind=Kind.OTHER, component=Component.UNKNOWN), _report(Kind.LORA)) == []
    )
    assert check_kind(Expected(), _report(Kind.LORA)) == []
    # Base families: warn only.
    warn = check_kind(Expected(kind=Kind.LORA, base=Base.SDXL), _report(Kind.LORA, base=Base.SD1))
    assert len(warn) == 1 and "sdxl" in warn[0]


# --- killed mid-download ------------------------------------------------------------------

_KILLABLE = """
import sys
from pathlib import Path
from sdhub.hub.civitai import CivitaiClient
from sdhub.hub.download import Downloader
from sdhub.hub.http import RetryPolicy
from sdhub.models.layouts import Layout

base, version_id, root = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
client = CivitaiClient(base, retry=RetryPolicy(attempts=3, base_delay=0.01))
job = client.download_job(client.version(version_id))
engine = Downloader(root, Layout.A1111, retry=client.retry, flush_interval=0.01)
result = engine.fetch(job)
print(result.status.value, result.resumed_from, result.path)
"""


@pytest.mark.slow
def test_sigkill_at_random_points_then_resume(civ: FakeCivitai, root: Path) -> None:
    import random
    import signal
    import subprocess
    import sys
    import time

    data = checkpoint_bytes(50, extra_kib=1500)  # ~2 MB, served slowly: kills land mid-body
    fake = publish(civ, "killme.safetensors", data, type="Checkpoint")
    civ.chunk_delay = 0.01
    final = root / "models" / "Stable-diffusion" / "killme.safetensors"
    part = final.with_name(final.name + ".part")
    command = [sys.executable, "-c", _KILLABLE, civ.base_url, str(fake.id), str(root)]
    rng = random.Random(4)
    sizes = []
    for _ in range(4):
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        # Wait until bytes flow, then kill at a random moment.
        deadline = time.monotonic() + 20
        start = part.stat().st_size if part.exists() else 0
        while time.monotonic() < deadline and proc.poll() is None:
            if part.exists() and part.stat().st_size > start:
                break
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, 0.08))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert not final.exists(), "a partial file became visible under the final name"
        sizes.append(part.stat().st_size)
    assert sizes == sorted(sizes) and 0 < sizes[-1] < len(data)  # each run resumed and grew

    civ.chunk_delay = 0.0
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=True)
    status, resumed_from, path = done.stdout.split()
    assert status == "downloaded" and int(resumed_from) == sizes[-1]
    assert Path(path) == final and final.read_bytes() == data
    assert not part.exists()
    assert [r.header("Range") for r in civ.requests_to("/files/")][1:] == [
        f"bytes={n}-" for n in sizes
    ]


# --- what real storage hosts do that a kind fake would not -----------------------------------


def test_a_complete_part_is_finished_after_the_416_of_its_resume(
    civ: FakeCivitai, root: Path
) -> None:
    """Killed after the last byte but before the rename: the CDN answers the resume with 416."""
    data = lora_bytes(30)
    fake = publish(civ, "whole.safetensors", data)
    part = root / "models" / "Lora" / "whole.safetensors.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(data)
    result = engine(root).fetch(job_for(civ, fake))
    assert result.status is DownloadStatus.DOWNLOADED and result.resumed_from == len(data)
    assert result.bytes_fetched == 0
    assert result.path is not None and result.path.read_bytes() == data
    assert [r.header("Range") for r in civ.requests_to("/files/")] == [f"bytes={len(data)}-"]


def test_a_part_longer_than_the_file_starts_again_in_the_same_run(
    civ: FakeCivitai, root: Path
) -> None:
    data = lora_bytes(31)
    fake = publish(civ, "shrunk.safetensors", data)
    part = root / "models" / "Lora" / "shrunk.safetensors.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(lora_bytes(31) + b"\0" * 5000)  # an older, longer upload
    result = engine(root).fetch(job_for(civ, fake))
    assert result.path is not None and result.path.read_bytes() == data
    assert result.resumed_from == 0 and no_partials(root)


@pytest.mark.parametrize("status", [400, 401, 403], ids=["gcs-400", "b2-401", "s3-403"])
def test_an_expired_signed_url_is_refreshed_whatever_the_storage_host_says(
    civ: FakeCivitai, root: Path, status: int
) -> None:
    data = checkpoint_bytes(32)
    fake = publish(civ, "expires.safetensors", data, type="Checkpoint")
    civ.expired_status = status
    civ.fail("/files/", Failure.DROP, after_bytes=70_000)
    civ.fail("/files/", Failure.EXPIRED, times=2)  # the next two signed URLs have expired
    result = engine(root).fetch(job_for(civ, fake, TOKEN))
    assert result.path is not None and result.path.read_bytes() == data
    assert civ.count(f"/api/download/models/{fake.id}") == 4  # a fresh URL for every try
    assert [r.header("Range") for r in civ.requests_to("/files/")] == [None] + ["bytes=70000-"] * 3
    # Refused signed URLs read as "ask again", never as "login required".
    civ.signed_ttl = -1
    with pytest.raises(TransientError) as info:
        engine(root).fetch(job_for(civ, publish(civ, "never.safetensors", lora_bytes(33)), TOKEN))
    assert "signed download URL" in str(info.value) and "CIVITAI_TOKEN" not in str(info.value)


@pytest.mark.parametrize("mode", ["chunked", "gzip", "gzip+chunked"])
def test_bodies_without_length_or_compressed_anyway_are_stored_decoded(
    civ: FakeCivitai, root: Path, mode: str
) -> None:
    data = checkpoint_bytes(34)
    fake = publish(civ, "odd.safetensors", data, type="Checkpoint")
    civ.chunked_bytes = "chunked" in mode
    civ.gzip_bytes = "gzip" in mode
    civ.fail("/files/", Failure.DROP, after_bytes=40_000)
    result = engine(root).fetch(job_for(civ, fake))
    assert result.path is not None and result.path.read_bytes() == data
    assert result.hashes is not None and result.hashes.sha256 == fake.files[0].hashes["SHA256"]
    assert no_partials(root)


def test_a_raw_utf8_content_disposition_names_the_file_right(civ: FakeCivitai, root: Path) -> None:
    """Storage hosts copy the name into the header as raw UTF-8; HTTP stacks read Latin-1."""
    fake = publish(civ, "Ünïcode ストリーム.safetensors", lora_bytes(35))
    civ.raw_utf8_names = True
    job = DownloadJob(
        DownloadSource(f"{civ.base_url}/api/download/models/{fake.id}", Site.CIVITAI),
        expected=Expected(kind=Kind.LORA),
    )
    result = engine(root).fetch(job)
    assert result.path == root / "models" / "Lora" / "Ünïcode ストリーム.safetensors"


def test_a_refused_key_is_named_as_such(civ: FakeCivitai, root: Path) -> None:
    fake = publish(civ, "locked.safetensors", lora_bytes(36))
    fake.login_required = True
    with pytest.raises(LoginRequired) as info:
        engine(root).fetch(job_for(civ, fake, "revoked-key"))
    assert "CIVITAI_TOKEN was refused" in str(info.value)
    assert "revoked-key" not in str(info.value)
