"""`harness models build|eval --task NAME`: the zoo's command group, hooked into `harness.cli`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from harness.errors import UserError
from models import tasks
from models.task import Task, TaskError

__all__ = ["register"]


def _task(name: str) -> Task:
    try:
        return tasks.get_task(name)
    except TaskError as exc:
        raise UserError(str(exc)) from exc


def cmd_build(args: argparse.Namespace) -> int:
    from rich.markup import escape
    from rich.progress import Progress

    from models import zoo

    task = _task(args.task)
    names = zoo.variant_names(task.name)
    for name in args.variant or ():
        if name not in names:
            raise UserError(f"unknown {task.name} variant {name!r}; known: {', '.join(names)}")
    chosen = args.variant or names
    with Progress(transient=True) as progress:
        job = progress.add_task("building", total=len(chosen))
        for name in chosen:
            progress.update(job, description=escape(name))
            artifact = zoo.build(name, args.out, force=args.force)
            progress.console.print(f"{name}  {artifact.path}  {artifact.manifest['model_bytes']} B", markup=False)
            progress.advance(job)
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from rich.progress import Progress

    task = _task(args.task)
    if args.out and not args.json:
        raise UserError("--out writes the JSON report: give --json with it")
    try:
        with Progress(transient=True) as progress:
            job = progress.add_task("evaluating", total=None)
            report = task.evaluate(args.subjects, lambda msg: progress.update(job, description=msg))
    except TaskError as exc:
        raise UserError(str(exc)) from exc
    if args.json and args.out:
        args.out.write_text(json.dumps(task.report_dict(report), indent=2, sort_keys=True) + "\n")
    elif args.json:
        json.dump(task.report_dict(report), sys.stdout, indent=2, sort_keys=True)
        print()
    else:
        print(task.format_report(report))
    return 0


def register(subparsers) -> None:
    """Add the `models` command group to the harness CLI's subparsers."""
    models = subparsers.add_parser("models", help="build and evaluate the model zoo (TFLite artifacts)")
    sub = models.add_subparsers(dest="models_command", required=True, metavar="ACTION")
    task_help = f"task name: {', '.join(tasks.TASKS)}"

    p = sub.add_parser("build", help="build a task's variants into the cache (or --out DIR); cached by source")
    p.add_argument("--task", required=True, help=task_help)
    p.add_argument("--out", type=Path, metavar="DIR", help="output directory (default: the user cache)")
    p.add_argument("--variant", action="append", metavar="NAME", help="only this variant (repeatable)")
    p.add_argument("--force", action="store_true", help="rebuild even if a build of the same source exists")
    p.set_defaults(func=cmd_build)

    p = sub.add_parser("eval", help="evaluate a task's variants (har: cross-validated personalization over 30 "
                       "people: folds, seeds, shifts, Holm-corrected paired gains, compression, early exit)")
    p.add_argument("--task", required=True, help=task_help)
    p.add_argument("--json", action="store_true")
    p.add_argument("--out", type=Path, metavar="FILE", help="with --json: write the JSON to FILE")
    p.add_argument("--subjects", type=int, metavar="N", help="only the first N evaluation subjects (har: per fold)")
    p.set_defaults(func=cmd_eval)
