"""`reelfind people`: list, name, rename, merge and split the people the face channel found,
and `together`: the moments where several of them are on screen at once.

While `reelfind serve` runs, these commands still work directly on the people tables
(data_dir/people.sqlite3) instead of going through the service: SQLite in WAL mode lets them read
beside the service, and every change is one BEGIN IMMEDIATE transaction that waits for the
service's write to finish (people_db.PeopleDB), so a name is never lost or half-written and the
user need not stop the service to name someone. `together` needs the catalog and the vector
store: it asks the running service (its MCP tool), or opens them itself when none runs.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from reelcore.config import Settings
from reelfind.console import ConfigOpt, err, out, settings_or_exit

people_app = typer.Typer(no_args_is_help=True, help="People found in the footage (faces): list, name, merge, split.")
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]


_settings = settings_or_exit


def _do(fn, *args):  # noqa: ANN001, ANN202 - one error path for every command
    from reelcore.inputs import QueryError

    try:
        return fn(*args)
    except QueryError as e:
        err.print(f"[red]error:[/red] {escape(str(e))}")
        raise typer.Exit(2) from None


def _person_line(verb: str, p) -> None:  # noqa: ANN001
    out.print(f"{verb} {p.id}: {escape(p.label)} ({p.tracks} face track(s) in {p.videos} video(s))")


@people_app.command("list")
def list_cmd(named: Annotated[bool, typer.Option("--named", help="Only named people.")] = False,
             limit: Annotated[int, typer.Option("--limit", "-n")] = 200, config: ConfigOpt = None,
             json_out: JsonOpt = False) -> None:
    """Everyone found: id, name (or 'Person N'), videos, seconds on screen."""
    from reelcore.channels.people import api

    res = _do(api.list_people, _settings(config), named, limit)
    if json_out:
        out.print_json(res.model_dump_json())
        return
    if not res.enabled or not res.people:
        err.print(res.message)
        return
    table = Table("id", "name", "videos", "on screen", "tracks", "seen in")
    for p in res.people:
        table.add_row(str(p.id), escape(p.name) if p.name else f"[dim]{p.label}[/dim]", str(p.videos),
                      f"{p.seconds:.1f}s", str(p.tracks), escape(p.first_seen or ""))
    out.print(table)
    err.print(res.message)


@people_app.command("name")
def name_cmd(person: Annotated[str, typer.Argument(help="Id (12), 'Person 12' or a current name.")],
             name: Annotated[str, typer.Argument(help="The name to give.")], config: ConfigOpt = None) -> None:
    """Name a person: the name then finds this face in every video, also in footage indexed later."""
    from reelcore.channels.people import api

    _person_line("named", _do(api.name_person, _settings(config), person, name))


@people_app.command("rename")
def rename_cmd(person: Annotated[str, typer.Argument(help="Current name, id or 'Person N'.")],
               name: Annotated[str, typer.Argument(help="The new name.")], config: ConfigOpt = None) -> None:
    """Change a person's name."""
    from reelcore.channels.people import api

    _person_line("renamed", _do(api.name_person, _settings(config), person, name))


@people_app.command("merge")
def merge_cmd(keep: Annotated[str, typer.Argument(help="The person who stays (id, name or 'Person N').")],
              other: Annotated[str, typer.Argument(help="The person folded into KEEP.")],
              drop_name: Annotated[bool, typer.Option("--drop-name", help=(
                  "Both are named: drop OTHER's name (refused without it).")) ] = False,
              config: ConfigOpt = None) -> None:
    """Two people are one: OTHER's faces become KEEP's (and stay together when regrouped)."""
    from reelcore.channels.people import api

    _person_line("merged into", _do(api.merge_people, _settings(config), keep, other, drop_name))


@people_app.command("split")
def split_cmd(track: Annotated[int, typer.Argument(help="A face track id (`reelfind people show PERSON`).")],
              config: ConfigOpt = None) -> None:
    """One face track is someone else: it becomes a new person (kept apart when regrouped)."""
    from reelcore.channels.people import api

    _person_line("split into", _do(api.split_track, _settings(config), track))


@people_app.command("show")
def show_cmd(person: Annotated[str, typer.Argument(help="Id, name or 'Person N'.")], config: ConfigOpt = None,
             json_out: JsonOpt = False) -> None:
    """A person's face tracks: track id (for split), video, time span."""
    from reelcore.channels.people import api

    faces = _do(api.person_tracks, _settings(config), person)
    if json_out:
        out.print_json(json.dumps([f.model_dump() for f in faces]))
        return
    table = Table("track", "video", "start", "end")
    for f in faces:
        table.add_row(str(f.track), escape(f.path), f"{f.start:.1f}s", f"{f.end:.1f}s")
    out.print(table)


@people_app.command("together")
def together_cmd(names: Annotated[list[str], typer.Argument(help="People who must all be on screen.")],
                 with_: Annotated[list[str] | None, typer.Option("--with", help=(
                     "Also something seen there (or said:<words>); repeatable.")) ] = None,
                 limit: Annotated[int, typer.Option("--limit", "-n")] = 10,
                 path_glob: Annotated[str | None, typer.Option("--path", help="Only files matching this glob.")] = None,
                 config: ConfigOpt = None, json_out: JsonOpt = False) -> None:
    """Moments where all these people are on screen at the same time (find_scenes(people=[...]))."""
    settings = _settings(config)
    res = _together(settings, list(names), list(with_ or []), limit, path_glob)
    if json_out:
        out.print_json(json.dumps(res))
        return
    out.print(escape(res["message"]))
    table = Table("file", "start", "end", "who")
    for sc in res["scenes"]:
        table.add_row(escape(sc["path"]), f"{sc['start']:.1f}s", f"{sc['end']:.1f}s",
                      escape(", ".join((sc.get("who") or {}).get("people") or [])))
    if res["scenes"]:
        out.print(table)


def _together(settings: Settings, names: list[str], concepts: list[str], limit: int,
              path_glob: str | None) -> dict:
    from reelcore.endpoint import service_url

    url = service_url(settings)
    if url:  # the running service owns the store: ask it
        from mcp_server.remote import RemoteToolError, call_tool

        args: dict = {"people": names, "limit": limit, "thumbnails": 0}
        if concepts:
            args["all_of"] = concepts
        if path_glob:
            args["path_glob"] = path_glob
        try:
            return call_tool(url, settings, "find_scenes", args)
        except RemoteToolError as e:
            err.print(f"[red]error:[/red] {e}")
            raise typer.Exit(2) from None
    from reelcore.channels.people.scenes import find_scenes_people
    from reelcore.channels.visual.embedder import ModelLoadError
    from reelcore.inputs import QueryError
    from reelcore.lock import StoreLocked
    from reelcore.query.search import SearchService
    from reelcore.runtime import Runtime
    from reelcore.storage.catalog import CatalogError
    from reelcore.storage.store import StoreError

    try:
        rt = Runtime.open(settings, "people")
    except StoreLocked as e:
        err.print(f"[red]error:[/red] {e}; try again when it has finished")
        raise typer.Exit(3) from None
    except (StoreError, ModelLoadError, CatalogError) as e:
        err.print(f"[red]error:[/red] {e}")
        raise typer.Exit(2) from None
    try:
        svc = SearchService(settings, rt.catalog, rt.store, rt.embedder, rt.thumbs)
        return find_scenes_people(svc, concepts, names, limit, path_glob).model_dump(mode="json")
    except (QueryError, ModelLoadError, StoreError) as e:
        err.print(f"[red]error:[/red] {escape(str(e))}")
        raise typer.Exit(2) from None
    finally:
        rt.close()
