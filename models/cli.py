"""`harness models build|eval --task har`: the zoo's command group, hooked into `harness.cli`."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from harness.errors import UserError

__all__ = ["register", "format_report"]

TASKS = ("har",)


def _check_task(task: str) -> None:
    if task not in TASKS:
        raise UserError(f"unknown task {task!r}; known tasks: {', '.join(TASKS)}")


def cmd_build(args: argparse.Namespace) -> int:
    from rich.progress import Progress

    from models import zoo

    _check_task(args.task)
    names = zoo.variant_names(args.task)
    for name in args.variant or ():
        if name not in names:
            raise UserError(f"unknown {args.task} variant {name!r}; known: {', '.join(names)}")
    chosen = args.variant or names
    with Progress(transient=True) as progress:
        job = progress.add_task("building", total=len(chosen))
        for name in chosen:
            progress.update(job, description=name)
            artifact = zoo.build(name, args.out, force=args.force)
            progress.console.print(f"{name}  {artifact.path}  {artifact.manifest['model_bytes']} B")
            progress.advance(job)
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from rich.progress import Progress

    from models.eval import evaluate
    from models.har import data

    _check_task(args.task)
    subjects = data.HELD_OUT[: args.subjects] if args.subjects else data.HELD_OUT
    if args.subjects is not None and not 1 <= args.subjects <= len(data.HELD_OUT):
        raise UserError(f"--subjects must be 1..{len(data.HELD_OUT)}, not {args.subjects}")
    steps = 20 if args.quick else None
    with Progress(transient=True) as progress:
        job = progress.add_task("evaluating", total=None)
        report = evaluate(subjects=subjects, **({"steps": steps} if steps else {}),
                          progress=lambda msg: progress.update(job, description=msg))
    if args.json:
        json.dump(dataclasses.asdict(report), sys.stdout, indent=2, sort_keys=True)
        print()
    else:
        print(format_report(report))
    return 0


def _pct(x: float) -> str:
    return f"{100 * x:.1f}"


def format_report(report) -> str:
    """Markdown tables of a `models.eval.Report` (the README table)."""
    lines = [f"Held-out subjects {list(report.subjects)}, {report.steps} train steps of 16 windows.", "",
             "| variant | condition | global acc % | personalized acc % | paired gain (pts) [95% CI] | improved "
             "| trainable | delta B | step ms | train peak RSS MiB (+ over infer) |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in report.personalization:
        lines.append(
            f"| {r.variant} | {r.condition} | {_pct(r.global_mean)} ± {_pct(r.global_sd)} | "
            f"{_pct(r.personal_mean)} ± {_pct(r.personal_sd)} | {100 * r.gain_mean:+.1f} "
            f"[{100 * r.gain_ci[0]:+.1f}, {100 * r.gain_ci[1]:+.1f}] | {r.improved}/{r.subjects} | "
            f"{r.trainable_params} ({100 * r.trainable_fraction:.1f}%) | {r.delta_bytes} | {r.step_ms_median:.2f} | "
            f"{r.train_peak_kb / 1024:.1f} (+{r.train_extra_kb / 1024:.2f}) |")
    lines += ["", "| variant | quantization | model bytes | same-trial acc % | cross-placement acc % | Δ vs float32 (pts) |",
              "| --- | --- | --- | --- | --- | --- |"]
    for q in report.quantization:
        delta = ", ".join(f"{v:+.1f}" for v in q.delta_vs_float32.values())
        lines.append(f"| {q.variant} | {q.quantization} | {q.model_bytes} | {_pct(q.accuracy['same-trial'])} | "
                     f"{_pct(q.accuracy['cross-placement'])} | {delta} |")
    return "\n".join(lines)


def register(subparsers) -> None:
    """Add the `models` command group to the harness CLI's subparsers."""
    models = subparsers.add_parser("models", help="build and evaluate the model zoo (TFLite artifacts)")
    sub = models.add_subparsers(dest="models_command", required=True, metavar="ACTION")

    p = sub.add_parser("build", help="build a task's variants into the cache (or --out DIR); cached by source")
    p.add_argument("--task", required=True, help="task name, e.g. har")
    p.add_argument("--out", type=Path, metavar="DIR", help="output directory (default: the user cache)")
    p.add_argument("--variant", action="append", metavar="NAME", help="only this variant (repeatable)")
    p.add_argument("--force", action="store_true", help="rebuild even if a build of the same source exists")
    p.set_defaults(func=cmd_build)

    p = sub.add_parser("eval", help="personalization over held-out subjects, paired gains, quantization")
    p.add_argument("--task", required=True, help="task name, e.g. har")
    p.add_argument("--json", action="store_true")
    p.add_argument("--subjects", type=int, metavar="N", help="only the first N held-out subjects")
    p.add_argument("--quick", action="store_true", help="20 train steps instead of the default budget")
    p.set_defaults(func=cmd_eval)
