"""`reelfind` command line: index, search, export, list, status, transcript, people, forget, serve, mcp.

Typer gives --help on every command; rich draws the progress bar (on stderr, so --json output on
stdout stays machine-readable).

Why one module of ~450 lines: it is six thin commands and their output formatting; each command
only wires the core, the service and the MCP surface (docs/architecture.md), and imports them
inside the command so that a command pays only for what it uses (`reelfind index` on an unchanged
folder never imports torch or Chroma; tests/test_startup_lazy.py).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import threading
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Column, Table

from reelcore.config import Settings
from reelfind.console import ConfigOpt, err, out, settings_or_exit

app = typer.Typer(
    add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False, help=__doc__.splitlines()[0]
)
_settings = settings_or_exit


def setup_logging(settings: Settings, quiet_console: bool = False) -> None:
    """Logs go to stderr (stdout may carry JSON or the MCP protocol), journald-friendly format."""
    level = getattr(logging, settings.log_level)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    # open_clip logs on the root logger; keep its INFO chatter out without silencing ours.
    handler.addFilter(lambda r: r.name != "root" or r.levelno >= logging.WARNING)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING if quiet_console and level < logging.WARNING else level)
    for noisy in ("chromadb", "httpx", "urllib3", "apscheduler", "mcp"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))


def _open_or_exit(settings: Settings, command: str):
    """Runtime.open with the data-dir lock; a store or catalog that cannot be opened is one clear
    error (exit 2), not a traceback. StoreLocked is left to the caller."""
    from reelcore.channels.visual.embedder import ModelLoadError
    from reelcore.runtime import Runtime
    from reelcore.storage.catalog import CatalogError
    from reelcore.storage.store import StoreError

    try:
        return Runtime.open(settings, command)
    except (StoreError, ModelLoadError, CatalogError) as e:
        err.print(f"[red]error:[/red] {e}")
        raise typer.Exit(2) from None


def _open_runtime(settings: Settings, command: str, paths: list[Path]):
    """Own the store, or hand the paths to the running service that owns it (never open it behind its back)."""
    from reelcore.lock import StoreLocked

    try:
        return _open_or_exit(settings, command)
    except StoreLocked as e:
        if e.owner.get("command") == "serve":
            from daemon.handoff import HandoffError, hand_off  # only now: urllib/http is ~0.1 s of start-up

            try:
                n, rejected = hand_off(settings, e.owner, [os.path.abspath(p) for p in paths])
            except HandoffError as he:
                err.print(f"[red]error:[/red] {e}, and it did not take the paths: {he}. "
                          "Stop it first (systemctl stop reelfind) or add the folder to its roots.")
                raise typer.Exit(3) from None
            err.print(f"{e}: handed {n} path(s) to it; it indexes them in the background "
                      "(follow with `reelfind status`).")
            for r in rejected:
                err.print(f"  [red]not taken[/red] {r.get('path')}: {r.get('reason')}")
            raise typer.Exit(1 if rejected else 0) from None
        err.print(f"[red]error:[/red] {e}; wait for it to finish.")
        raise typer.Exit(3) from None


@app.command()
def index(
    paths: Annotated[list[Path], typer.Argument(help="Folders or video files to index.", show_default=False)],
    config: ConfigOpt = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Index folders or files: new, changed and moved files are (re)indexed, unchanged ones skipped."""
    from reelcore.channels.visual.embedder import ModelLoadError
    from reelcore.ingest.discovery import Plan, Root
    from reelcore.storage.store import StoreError

    settings = _settings(config)
    setup_logging(settings, quiet_console=True)
    missing = [p for p in paths if not p.exists()]
    if missing:
        err.print(f"[red]error:[/red] no such file or folder: {', '.join(map(str, missing))}")
        raise typer.Exit(2)
    rt = _open_runtime(settings, "index", paths)
    try:
        rec_roots = rt.configured_roots()
        plan = Plan()
        for p in paths:
            p = Path(os.path.abspath(p.expanduser()))
            root = next((r for r in rec_roots if p == r.path or r.path in p.parents), None)
            if root is None:
                root = Root(p if p.is_dir() else p.parent)
            plan.merge(rt.reconciler().reconcile(root, scope=p))
        outcomes = []
        if plan.todo:  # nothing to embed: no model, no decoder, no Chroma (start-up stays ~0.5 s)
            rt.embedder.preload()  # torch/open_clip import in the background while the indexer starts
            outcomes = _run_with_progress(rt, plan.todo, json_out)
        others = _channel_passes(rt, paths)  # after ALL visual work: visual is never delayed
    except (ModelLoadError, StoreError) as e:
        err.print(f"[red]error:[/red] {e}")
        raise typer.Exit(2) from None
    except KeyboardInterrupt:
        err.print("interrupted: committed work is kept; run the same command again to resume")
        raise typer.Exit(130) from None
    finally:
        rt.close()
    _allow_fast_exit()  # reached only when the store, catalog and lock closed without an error
    indexed = [o for o in outcomes if o.state == "indexed"]
    failed = [(o.path, o.reason) for o in outcomes if o.state == "failed"]
    failed += [(r.path, f"{r.error} (unchanged since it failed)") for r in plan.failed_unchanged]
    failed += plan.unreadable
    summary = {
        "indexed": len(indexed),
        "frames": sum(o.frames for o in indexed),
        "skipped_unchanged": plan.unchanged,
        "moved": [{"from": a, "to": b} for a, b in plan.moved],
        "copied_reusing_vectors": plan.copied,
        "removed": plan.removed,
        "skipped": [{"path": p, "reason": r} for p, r in plan.skipped],  # FIFOs, sockets, devices, bad links
        "failed": [{"path": p, "reason": r} for p, r in failed],
        "warnings": [{"path": o.path, "note": o.reason} for o in indexed if o.reason],
        "speech": (others or {}).get("speech"),
        "channels": others,
    }
    if json_out:
        out.print_json(json.dumps(summary))
        return
    err.print(
        f"indexed {summary['indexed']} files ({summary['frames']} frames), "
        f"{plan.unchanged} unchanged, {len(plan.moved)} moved, {len(plan.copied)} copies reusing vectors, "
        f"{len(plan.removed)} removed, {len(failed)} failed"
    )
    for name, got in (others or {}).items():
        if got["indexed"] or got["failed"]:
            err.print(f"{name}: {got['indexed']} files ({got['records']} records), {len(got['failed'])} failed")
        if got.get("unavailable"):
            err.print(f"  [yellow]{name} not run[/yellow]: {got['unavailable']} (the next run tries again)")
    for w in summary["warnings"]:
        err.print(f"  [yellow]warning[/yellow] {w['path']}: {w['note']}")
    for name, got in (others or {}).items():
        for f in got["failed"]:
            err.print(f"  [red]{name} failed[/red] {f['path']}: {f['reason']}")
    for p, r in failed:
        err.print(f"  [red]failed[/red] {p}: {r}")


def _channel_passes(rt, paths: list[Path]) -> dict | None:
    """The other channels' passes due under `paths` (new files, a backfill, changed sidecars), after
    all the visual work. Per channel: files done, records, failures (and why one could not run)."""
    from reelcore.channels.base import ChannelUnavailable

    passes = rt.channel_passes()
    if not passes.enabled:
        return None
    stop = threading.Event()
    unavailable: dict[str, str] = {}
    skipped: set[str] = set()
    outcomes = []
    try:
        for p in paths:
            prefix = os.path.abspath(p.expanduser())
            single = not os.path.isdir(prefix)
            folder = os.path.dirname(prefix) if single else prefix
            passes.refresh(folder)
            while True:  # a channel that cannot run now (its model) is left; the others go on
                try:
                    outcomes += passes.run_due(stop, folder, only_path=prefix if single else None,
                                               skip=skipped)
                    break
                except ChannelUnavailable as e:
                    name = e.channel or "speech"
                    unavailable[name] = str(e)
                    if passes.channel(name).can_hold and not passes.channel(name).held:
                        passes.channel(name).held = True  # files that need no engine go on (subtitles)
                    else:
                        skipped.add(name)
    except KeyboardInterrupt:
        stop.set()
        raise
    res: dict = {}
    for ch in passes.channels:
        if not ch.enabled:
            continue
        mine = [o for o in outcomes if o.channel == ch.name]
        done = [o for o in mine if o.state == "indexed"]
        res[ch.name] = {"indexed": len(done), "records": sum(o.records for o in done),
                        "failed": [{"path": o.path, "reason": o.reason} for o in mine if o.state == "failed"]}
        if ch.name == "speech":
            res[ch.name]["segments"] = res[ch.name]["records"]
        if ch.name in unavailable:
            res[ch.name]["unavailable"] = unavailable[ch.name]
    return res


def _run_with_progress(rt, todo, quiet: bool):
    """Index each record with a files/frames/ETA bar; Ctrl-C stops after the current batch."""
    stop = threading.Event()
    outcomes = []
    idx = rt.indexer()
    prog = rt.progress
    prog.files_total = len(todo)
    columns = [
        TextColumn("[bold]{task.fields[file]}"), BarColumn(), TextColumn("{task.fields[files]}"),
        TextColumn("{task.fields[frames]} frames, {task.fields[rate]}"), TimeElapsedColumn(),
        TimeRemainingColumn(),
    ]
    with Progress(*columns, console=err, disable=quiet or not todo, transient=False) as bar:
        task = bar.add_task("index", total=len(todo), file="", files="", frames=0, rate="")

        def refresh() -> None:
            snap = prog.snapshot()
            frac = 0.0
            if prog.current_duration:
                frac = min(1.0, prog.current_t / prog.current_duration)
            bar.update(
                task, completed=prog.files_done + frac,
                file=Path(prog.current_path or "").name[:40],
                files=f"{prog.files_done}/{len(todo)} files", frames=prog.frames_done,
                rate=f"{snap['frames_per_second']} fr/s, {snap['video_seconds_per_second']}x realtime",
            )

        def done(outcome) -> None:
            outcomes.append(outcome)
            prog.files_done += 1
            refresh()

        try:  # the next file's decode starts while this one's last batches embed (index.prefetch_next)
            idx.index_all(todo, stop, on_batch=refresh, on_outcome=done)
        except KeyboardInterrupt:
            stop.set()
            raise
    return outcomes


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="What should be in the picture, in plain words.")],
    limit: Annotated[int, typer.Option("--limit", "-n", help="Number of moments.")] = 10,
    path_glob: Annotated[str | None, typer.Option("--path", help="Only files matching this glob.")] = None,
    min_score: Annotated[float | None, typer.Option("--min-score", help="Drop weaker frames.")] = None,
    channels: Annotated[list[str] | None, typer.Option(
        "--channel", help=("Search only this evidence: seen (the picture), said (speech), written "
                           "(on-screen text) or who (people named in the query); repeatable."))] = None,
    people: Annotated[list[str] | None, typer.Option("--people", help=(
        "Only moments where this person is on screen (name or 'Person N', see `reelfind people list`); "
        "repeatable: all of them together."))] = None,
    config: ConfigOpt = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print moments as JSON.")] = False,
    export: Annotated[Path | None, typer.Option("--export", help=(
        "Also write the moments for an editing application to this file (format from its extension: "
        ".edl .xml .fcpxml .otio .csv)."), show_default=False)] = None,
    fmt: Annotated[str | None, typer.Option("--format", help="Export format: edl, fcp7, fcpxml, otio or csv.",
                                            show_default=False)] = None,
) -> None:
    """Find moments that match a description (file, start-end seconds, peak time, score, channels)."""
    from reelcore.channels.visual.embedder import ModelLoadError
    from reelcore.endpoint import service_url
    from reelcore.lock import StoreLocked
    from reelcore.query.search import QueryError, SearchService
    from reelcore.storage.store import StoreError

    settings = _settings(config)
    setup_logging(settings, quiet_console=True)
    url = service_url(settings)
    if url:
        # A running service owns the store: ask it (opening its embedded store here could miss vectors).
        verdict, moments = _search_via_service(url, settings, query, limit, path_glob, min_score, channels, people)
    else:
        # Own the store like any other process that opens it (docs/architecture.md, process model): opening an
        # embedded store another process is writing (`reelfind index`) reads stale HNSW data and
        # is not safe. The lock is held only for this one query.
        try:
            rt = _open_or_exit(settings, "search")
        except StoreLocked as e:
            err.print(f"[red]error:[/red] {e}; try again when it has finished (or run `reelfind serve`, "
                      "which answers searches while it indexes)")
            raise typer.Exit(3) from None
        try:
            from reelcore.channels.fuse import search_channels

            svc = SearchService(settings, rt.catalog, rt.store, rt.embedder, rt.thumbs)
            found = search_channels(svc, query, channels, limit=limit, path_glob=path_glob,
                                    min_score=min_score, people=people).model_dump(mode="json")
            verdict, moments = found, [{k: m.get(k) for k in _MOMENT_KEYS} for m in found["moments"]]
        except (QueryError, ModelLoadError, StoreError) as e:
            err.print(f"[red]error:[/red] {e}")
            raise typer.Exit(2) from None
        finally:
            rt.close()
    if export is not None:
        from reelcore.models import SearchOut
        from reelfind.exporting import export_result

        _export_to(export, fmt, lambda f: export_result(SearchOut.model_validate(verdict), f, None))
    line = _verdict_line(verdict)
    if json_out:
        if line:
            err.print(line)  # stdout stays the JSON list of moments
        out.print_json(json.dumps(moments))
        return
    if line:
        out.print(line)
    if not moments:
        err.print("no moments found (is anything indexed? see `reelfind status`)")
        return
    table = Table("score", "file", "start", "end", "peak", "channels", "said", "written", "who")
    for m in moments:
        said, written = m.get("said") or {}, m.get("written") or {}
        who = ", ".join((m.get("who") or {}).get("people") or [])
        table.add_row(f"{m['score']:.3f}", m["path"], f"{m['start']:.1f}s", f"{m['end']:.1f}s", f"{m['peak']:.1f}s",
                      "+".join(m.get("channels") or ["seen"]), escape(_snippet(said)) if said else "",
                      escape(_snippet(written)) if written else "", escape(who))
    out.print(table)


def _snippet(said: dict, width: int = 80) -> str:
    """The quote around its first matched word, shortened to `width` characters."""
    text = said.get("text") or ""
    if len(text) <= width:
        return f'"{text}"'
    words = said.get("words") or []
    at = text.find(words[0]["word"]) if words else 0
    lo = max(0, min(at - width // 3, len(text) - width))
    return f'"{"…" if lo else ""}{text[lo:lo + width]}{"…" if lo + width < len(text) else ""}"'


_MOMENT_KEYS = ("video_id", "path", "start", "end", "peak", "score", "frames", "thumbnail", "channels", "said",
                "written", "who")
_VERDICT_STYLE = {"good": ("green", "good match"), "weak": ("yellow", "weak match"), "none": ("red", "NO GOOD MATCH")}


def _verdict_line(res: dict) -> str | None:
    """The search verdict as one line ("NO GOOD MATCH: ...") above the table: scores alone do not say it."""
    match = res.get("match")
    if match not in _VERDICT_STYLE:
        return None
    colour, label = _VERDICT_STYLE[match]
    message = str(res.get("message") or "")
    for prefix in ("good match", "weak match", "no good match"):
        if message.lower().startswith(prefix):
            message = message[len(prefix):].lstrip(":. ")
    return f"[bold {colour}]{label}[/bold {colour}]: {escape(message)}"


def _search_via_service(url: str, settings: Settings, query: str, limit: int, path_glob: str | None,
                        min_score: float | None, channels: list[str] | None = None,
                        people: list[str] | None = None) -> tuple[dict, list[dict]]:
    from mcp_server.remote import RemoteToolError, call_tool

    args: dict = {"query": query, "limit": limit, "thumbnails": 0}
    if channels:
        args["channels"] = channels
    if people:
        args["people"] = people
    if path_glob:
        args["path_glob"] = path_glob
    if min_score is not None:
        args["min_score"] = min_score
    try:
        res = call_tool(url, settings, "search_footage", args)
    except RemoteToolError as e:
        err.print(f"[red]error:[/red] {e}")
        raise typer.Exit(2) from None
    return res, [{k: m.get(k) for k in _MOMENT_KEYS} for m in res.get("moments", [])]


def _export_to(dest: Path, fmt: str | None, build) -> None:
    """Pick the format (--format, else dest's extension), build the export and write it whole."""
    from reelcore.export import get_format
    from reelcore.inputs import QueryError
    from reelfind.exporting import write

    try:
        f = get_format(fmt, dest)
        made = build(f)
        write(made, dest)
    except QueryError as e:
        err.print(f"[red]error:[/red] {e}")
        raise typer.Exit(2) from None
    except OSError as e:
        err.print(f"[red]error:[/red] cannot write {dest}: {e.strerror or e}")
        raise typer.Exit(2) from None
    err.print(f"wrote {escape(str(dest))}: {escape(made.message)}")


@app.command("export")
def export_cmd(
    output: Annotated[Path, typer.Argument(help="The file to write (.edl .xml .fcpxml .otio .csv).",
                                           show_default=False)],
    query: Annotated[str | None, typer.Option("--query", "-q", help="Search for this (alone), or what to look "
                                              "for in --video.", show_default=False)] = None,
    all_of: Annotated[list[str] | None, typer.Option("--all-of", "-a", help="Scenes where ALL of these are in "
                                                     "the picture at once (repeat).", show_default=False)] = None,
    video: Annotated[str | None, typer.Option("--video", help="One video's timeline peaks for --query.",
                                              show_default=False)] = None,
    moment: Annotated[list[str] | None, typer.Option("--moment", "-m", help="A hand-picked moment "
                                                     "VIDEO@START-END in seconds (repeat).",
                                                     show_default=False)] = None,
    fmt: Annotated[str | None, typer.Option("--format", help="edl, fcp7, fcpxml, otio or csv (default: from "
                                            "the file's extension).", show_default=False)] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", help="Number of moments (search, scenes).")] = 10,
    path_glob: Annotated[str | None, typer.Option("--path", help="Only files matching this glob.")] = None,
    threshold_z: Annotated[float, typer.Option("--threshold-z", help="Scenes: sigmas every concept needs.")] = 2.5,
    peaks: Annotated[int, typer.Option("--peaks", help="Timeline: how many peaks.")] = 5,
    label: Annotated[str | None, typer.Option("--label", help="Marker name (default: the question).",
                                              show_default=False)] = None,
    config: ConfigOpt = None,
) -> None:
    """Export moments as markers and subclips for Premiere, Resolve, Final Cut or Avid, with each file's own
    timecode: a search (--query), scenes (--all-of), a video's peaks (--video --query) or a selection (--moment)."""
    from reelcore.channels.visual.embedder import ModelLoadError
    from reelcore.endpoint import service_url
    from reelcore.lock import StoreLocked
    from reelcore.storage.store import StoreError
    from reelfind import exporting

    settings = _settings(config)
    setup_logging(settings, quiet_console=True)
    concepts = list(all_of or [])
    if moment:
        _export_to(output, fmt, lambda f: exporting.export_selection_cli(settings, moment, f, label or query))
        return
    url = service_url(settings)
    if url:
        from mcp_server.remote import RemoteToolError

        def build(f):
            try:
                result = exporting.remote_result(url, settings, query=query, concepts=concepts, video=video,
                                                 limit=limit, path_glob=path_glob, threshold_z=threshold_z,
                                                 peaks=peaks)
            except RemoteToolError as e:
                err.print(f"[red]error:[/red] {e}")
                raise typer.Exit(2) from None
            return exporting.export_result(result, f, label)

        _export_to(output, fmt, build)
        return
    try:
        rt = _open_or_exit(settings, "export")
    except StoreLocked as e:
        err.print(f"[red]error:[/red] {e}; try again when it has finished (or run `reelfind serve`)")
        raise typer.Exit(3) from None
    try:
        from reelcore.export.query import export_answer
        from reelcore.query.search import SearchService

        svc = SearchService(settings, rt.catalog, rt.store, rt.embedder, rt.thumbs)
        _export_to(output, fmt, lambda f: export_answer(svc, f, query=query, concepts=concepts, video=video,
                                                        limit=limit, path_glob=path_glob, threshold_z=threshold_z,
                                                        peaks=peaks, label=label))
    except (ModelLoadError, StoreError) as e:
        err.print(f"[red]error:[/red] {e}")
        raise typer.Exit(2) from None
    finally:
        rt.close()


@app.command("list")
def list_files(
    state: Annotated[str | None, typer.Option("--state", help="Only files in this state: pending, indexing, "
                                              "indexed or failed.")] = None,
    path_glob: Annotated[str | None, typer.Option("--path", help="Only files matching this glob.")] = None,
    config: ConfigOpt = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the files as JSON.")] = False,
) -> None:
    """Files reelfind knows: state, duration, frames and notes (why a file failed, decode problems)."""
    from reelcore.inputs import glob_match
    from reelcore.query.overview import video_out
    from reelcore.storage.catalog import STATES, Catalog, CatalogError

    settings = _settings(config)
    setup_logging(settings, quiet_console=True)
    if state is not None and state not in STATES:
        err.print(f"[red]error:[/red] --state must be one of {', '.join(STATES)} (got {state!r})")
        raise typer.Exit(2)
    try:
        catalog = Catalog(settings.catalog_path)  # SQLite WAL: a read beside a running service is safe
    except CatalogError as e:
        err.print(f"[red]error:[/red] {e}")
        raise typer.Exit(2) from None
    try:
        files = [video_out(r).model_dump(mode="json") for r in catalog.all(state)
                 if not path_glob or glob_match(r.path, path_glob)]
    finally:
        catalog.close()
    if json_out:
        out.print_json(json.dumps(files))
        return
    if not files:
        err.print("no files" + (f" in state {state}" if state else "") + " (see `reelfind status`)")
        return
    table = Table("state", Column("file", overflow="fold"), "duration", "frames", Column("notes", overflow="fold"))
    for f in files:
        st = f["state"] + (" (offline)" if f["unavailable"] else "")
        dur = "" if f["duration"] is None else f"{f['duration']:.1f}s"
        table.add_row(st, escape(f["path"]), dur, str(f["frames"]), escape(f["error"] or f["note"] or ""))
    out.print(table)


@app.command()
def status(
    config: ConfigOpt = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print status as JSON.")] = False,
) -> None:
    """Counts per state, failed files with reasons, store size and model identity."""
    from daemon.handoff import service_status
    from reelcore.status import collect_status
    from reelcore.storage.catalog import CatalogError

    settings = _settings(config)
    setup_logging(settings, quiet_console=True)
    try:
        st = collect_status(settings, service_status(settings))
    except CatalogError as e:
        err.print(f"[red]error:[/red] {e}")
        raise typer.Exit(2) from None
    if json_out:
        out.print_json(json.dumps(st))
        return
    out.print(f"model: {st['model_identity']}  store: {st['store']}  frames: {st['vectors']}")
    out.print("files: " + ", ".join(f"{k} {v}" for k, v in st["counts"].items()))
    speech_line = _speech_status_line(st)
    if speech_line:
        out.print(speech_line)
    svc = st.get("service")
    if svc:
        out.print(f"service: pid {svc.get('pid')} {svc.get('state', '')}: {svc.get('status', '')}")
        cur = svc.get("current")
        if cur:
            out.print(f"  indexing {cur.get('path')} at {cur.get('t', 0):.1f} s of {cur.get('duration') or 0:.1f} s")
        q = svc.get("queue") or {}
        if q:
            out.print(f"  queue: {q.get('queued', 0)} queued, {q.get('settling', 0)} settling")
        for r in svc.get("roots") or []:
            if not r.get("present", True) or r.get("fallback"):
                out.print(f"  [yellow]root[/yellow] {r.get('path')}: present={r.get('present')} "
                          f"mode={r.get('mode')} fallback={r.get('fallback')}")
    for f in st["failed"]:
        out.print(f"  [red]failed[/red] {f['path']}: {f['reason']}")
    for f in st["warnings"]:
        out.print(f"  [yellow]warning[/yellow] {f['path']}: {f['note']}")


def _speech_status_line(st: dict) -> str | None:
    from reelcore.status import _channels_part

    sp = (st.get("channels") or {}).get("speech") or {}
    if not sp.get("enabled"):
        return "speech: disabled"
    part = [p for p in _channels_part(st) if p.startswith("speech:")]
    return f"{part[0]}, {sp.get('records', 0)} segments ({sp.get('identity')})" if part else None


@app.command()
def transcript(
    video: Annotated[str, typer.Argument(help="An indexed video: path, video_id or unique file name.")],
    t_from: Annotated[float | None, typer.Option("--from", help="From this time (seconds).")] = None,
    t_to: Annotated[float | None, typer.Option("--to", help="To this time (seconds).")] = None,
    fmt: Annotated[str, typer.Option("--format", help="text, srt or vtt.")] = "text",
    config: ConfigOpt = None,
) -> None:
    """Print what is said in a video (or a span of it) as text, SRT or WebVTT."""
    from reelcore.channels.speech.transcript import FORMATS, get_transcript, render
    from reelcore.endpoint import service_url
    from reelcore.lock import StoreLocked
    from reelcore.query.search import QueryError, SearchService
    from reelcore.storage.store import StoreError

    settings = _settings(config)
    setup_logging(settings, quiet_console=True)
    if fmt not in FORMATS:
        err.print(f"[red]error:[/red] --format must be one of {', '.join(FORMATS)} (got {fmt!r})")
        raise typer.Exit(2)
    args = {"video": video, **({"t_from": t_from} if t_from is not None else {}),
            **({"t_to": t_to} if t_to is not None else {})}
    url = service_url(settings)
    if url:
        from mcp_server.remote import RemoteToolError, call_tool

        try:
            res = call_tool(url, settings, "get_transcript", args)
        except RemoteToolError as e:
            err.print(f"[red]error:[/red] {e}")
            raise typer.Exit(2) from None
    else:
        try:
            rt = _open_or_exit(settings, "transcript")
        except StoreLocked as e:
            err.print(f"[red]error:[/red] {e}; try again when it has finished")
            raise typer.Exit(3) from None
        try:
            svc = SearchService(settings, rt.catalog, rt.store, rt.embedder, rt.thumbs)
            res = get_transcript(svc, video, t_from, t_to).model_dump(mode="json")
        except (QueryError, StoreError) as e:
            err.print(f"[red]error:[/red] {e}")
            raise typer.Exit(2) from None
        finally:
            rt.close()
    if res["speech"] != "indexed" or not res["segments"]:
        err.print(f"speech: {res['speech']}" + (f" ({res['note']})" if res.get("note") else "")
                  + ("" if res["segments"] else "; nothing said in this span"))
    sys.stdout.write(render(res["segments"], fmt))
    if res.get("truncated"):
        err.print("[yellow]truncated[/yellow]: ask for a shorter span (--from/--to)")


@app.command()
def forget(
    channel: Annotated[str, typer.Option("--channel", help=(
        "The channel whose data to delete: speech, people (every face vector, crop and name).")),],
    config: ConfigOpt = None,
) -> None:
    """Delete one channel's records and states (the visual index stays); it is redone when enabled."""
    from reelcore.channels.registry import channel_names
    from reelcore.lock import StoreLocked
    from reelcore.storage.store import StoreError

    settings = _settings(config)
    setup_logging(settings, quiet_console=True)
    if channel not in channel_names():
        err.print(f"[red]error:[/red] --channel must be one of {', '.join(channel_names())} (the visual index is "
                  f"removed with its files; got {channel!r})")
        raise typer.Exit(2)
    try:
        rt = _open_or_exit(settings, "forget")
    except StoreLocked as e:
        err.print(f"[red]error:[/red] {e}; stop it first (the service owns the index)")
        raise typer.Exit(3) from None
    try:
        n = rt.channel_passes().forget(channel)
    except StoreError as e:
        err.print(f"[red]error:[/red] {e}")
        raise typer.Exit(2) from None
    finally:
        rt.close()
    _allow_fast_exit()
    again = getattr(settings.channels, channel).enabled
    err.print(f"{channel}: forgot the records of {n} file(s)" + (
        f"; the next `reelfind index` or the service redoes them while channels.{channel}.enabled = true "
        f"(set it to false to keep them gone)" if again else ""))


@app.command()
def serve(config: ConfigOpt = None) -> None:
    """Run the service: reconcile roots, watch them, index, and serve MCP over HTTP (127.0.0.1)."""
    from daemon.signals import stop_on_signals

    stop, _ = stop_on_signals(early_exit=True)  # first: SIGTERM during the slow imports below exits 0
    from daemon.service import run_service  # function-level: start-up speed of the other commands

    settings = _settings(config)
    setup_logging(settings)
    code = run_service(settings, stop=stop)
    # Everything is closed (or was given up on after its timeout): leave without the interpreter's
    # teardown, which aborts the process ("terminate called without an active exception") if a
    # native torch/Chroma thread is still running.
    _allow_fast_exit()
    raise typer.Exit(code)


@app.command()
def mcp(config: ConfigOpt = None) -> None:
    """MCP over stdio for desktop clients: bridges to a running service, else opens the index itself."""
    from mcp_server.stdio_bridge import run_stdio

    settings = _settings(config)
    setup_logging(settings, quiet_console=True)
    raise typer.Exit(run_stdio(settings))


# Set once a command has committed and closed everything it opened (see main).
_fast_exit_ok = False


from reelfind.people_cmd import people_app  # noqa: E402 - `reelfind people ...` (reelfind/people_cmd.py)

app.add_typer(people_app, name="people")


def _allow_fast_exit() -> None:
    global _fast_exit_ok
    _fast_exit_ok = True


def _exit_code(e: SystemExit) -> int:
    if e.code is None or isinstance(e.code, int):
        return e.code or 0
    print(e.code, file=sys.stderr)
    return 1


def main() -> None:
    """Console entry point. After `index` has closed the store, the catalog and the lock, the
    process leaves with os._exit once its output is flushed: the interpreter's own teardown (torch,
    Chroma's bindings, thousands of modules) takes a second or more and has nothing left to save.
    Only here, never under CliRunner (tests call `app` in-process), and only when torch or chromadb
    were loaded (otherwise the normal exit is quick)."""
    try:
        app()
        code = 0
    except SystemExit as e:
        code = _exit_code(e)
    if _fast_exit_ok and any(m in sys.modules for m in ("torch", "chromadb")):
        logging.shutdown()
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
        os._exit(code)
    raise SystemExit(code)


if __name__ == "__main__":
    main()
