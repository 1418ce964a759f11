"""Markdown of the HAR evaluation, from its JSON form (`harness models eval --task har --json`).

`format_report` gives the tables of `models/RESULTS.md`; `format_summary` the block of numbers the
READMEs carry. Both read only the JSON dict, so the committed documents can be regenerated from one
evaluation output (`python -m models.har.docs`).
"""

from __future__ import annotations

from typing import Any

__all__ = ["format_report", "format_summary"]


def _pct(x: float) -> str:
    return f"{100 * x:.1f}"


def _pts(x: float) -> str:
    return f"{100 * x:+.1f}"


def _p(p: float) -> str:
    return f"{p:.2g}" if p >= 0.001 else "<0.001"


def _stat(s: dict) -> str:
    lo, hi = s["t_ci"]
    return f"{_pts(s['mean'])} ± {100 * s['seed_sd']:.1f} [{_pts(lo)}, {_pts(hi)}]"


def _verdict(s: dict) -> str:
    return ("**yes**" if s["mean"] > 0 else "**yes (worse)**") if s["significant"] else "no"


def _counts(s: dict) -> str:
    return f"{s['improved']}/{s['unchanged']}/{s['worse']}"


def _header(r: dict) -> list[str]:
    c = r["config"]
    folds = "; ".join(f"fold {f['index']}: held out {f['held_out'][0]}-{f['held_out'][-1]}, tuning {f['tuning']}"
                      for f in r["folds"])
    return [f"{len(r['people'])} held-out people over {len(r['folds'])} folds ({folds}; each fold's global model "
            f"trains on the other people), seeds {c['seeds']} (global model and personalization), global model "
            f"at most {c['epochs']} epochs. Paired per person (a person's value is the mean over seeds); "
            f"± is the SD over seeds of the mean; [ ] the t 95% interval; p the sign-flip p-value, Holm-adjusted "
            f"within each table; significant = Holm p < {r['alpha']}. Computing every fold and seed took "
            f"{r['compute_seconds'] / 60:.0f} min on this machine (2 cores, shared)."]


def _personalization(r: dict) -> list[str]:
    lines = ["", "## Personalization by technique and shift", "",
             "Recipe per fold (learning rate, recipe) chosen on the fold's tuning people. improved/unchanged/worse "
             "counts people.", "",
             "| technique | shift | recipe per fold | steps | global acc % | personalized acc % | gain pts ± seed SD "
             "[t 95% CI] | p | Holm p | significant | improved/unchanged/worse |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for row in r["personalization"]:
        g = row["gain"]
        recipes = "; ".join(f"{lr:g}, {text}" for lr, text in zip(row["learning_rates"], row["recipes"]))
        lines.append(f"| {row['technique']} | {row['shift']} | {recipes} | {row['steps_mean']:.0f} | "
                     f"{_pct(row['global_mean'])} ± {100 * row['global_seed_sd']:.1f} | "
                     f"{_pct(row['personal_mean'])} ± {100 * row['personal_seed_sd']:.1f} | {_stat(g)} | "
                     f"{_p(g['p'])} | {_p(g['p_holm'])} | {_verdict(g)} | {_counts(g)} |")
    return lines


def _shares(r: dict) -> list[str]:
    lines = ["", "## Share of full fine-tuning's gain, cost, and the target", "",
             "Target: >= 80% of full fine-tuning's gain at <= 5% trainable parameters, judged only where full "
             "fine-tuning's gain is significant. Training MACs = MACs per step (batch 16) x steps taken.", "",
             "| technique | shift | gain / full's gain (pts) | share | trainable | delta B | training MACs/step "
             "| pts per 10^9 training MACs | target |", "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for s in r["shares"]:
        share = "n/a (full's gain <= 0)" if s["share"] is None else f"{100 * s['share']:.0f}%"
        per = "– (no training)" if s["gain_per_gmac"] is None else f"{s['gain_per_gmac']:+.2f}"
        target = "n/a (full not significant)" if s["meets_target"] is None else ("met" if s["meets_target"] else
                                                                                   "missed")
        lines.append(f"| {s['technique']} | {s['shift']} | {_pts(s['gain'])} / {_pts(s['full_gain'])} | {share} | "
                     f"{s['trainable_params']:,} ({_pct(s['trainable_fraction'])}%) | {s['delta_bytes']:,} | "
                     f"{s['train_macs_per_step']:,} | {per} | {target} |")
    lines += ["", "| shift | full fine-tuning's gain (pts) | Holm p | target (>= 80% at <= 5% parameters) |",
              "| --- | --- | --- | --- |"]
    for t in r["targets"]:
        lines.append(f"| {t['shift']} | {_pts(t['full_gain'])} | {_p(t['full_p_holm'])} | {t['verdict']} |")
    return lines


def _curve(r: dict) -> list[str]:
    if not r["curve"]:
        return []
    lines = ["", "## Few-step curve (other trial)", "",
             "Fixed steps at the tuned learning rate, no early stopping; condition `cross-placement` = the other "
             "trial (the name `harness simulate-day` reads this table by).", "",
             "| variant | condition | learning rate per fold | steps | people | global acc % | seed SD |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for c in r["curve"]:
        if c["steps"] == 0:
            rates = ", ".join(f"{lr:g}" for lr in c["learning_rates"])
            lines.append(f"| har-cnn/{c['technique']} | cross-placement | {rates} | 0 steps (global model) | "
                         f"{len(r['people'])} | {_pct(c['accuracy'])} | {100 * c['seed_sd']:.1f} |")
    lines += ["", "| variant | condition | steps | acc % | gain pts ± seed SD [t 95% CI] | Holm p |",
              "| --- | --- | --- | --- | --- | --- |"]
    for c in r["curve"]:
        if c["steps"]:
            lines.append(f"| har-cnn/{c['technique']} | cross-placement | {c['steps']} | {_pct(c['accuracy'])} | "
                         f"{_stat(c['gain'])} | {_p(c['gain']['p_holm'])} |")
    return lines


def _compression(r: dict) -> list[str]:
    if not r["compression"]:
        return []
    lines = ["", "## Compression (global model, no personalization)", "",
             "int8 variants against the float32 model; the 50%-pruned model against the dense model after the "
             "same fine-tuning budget.", "",
             "| variant | vs | test | acc % ± seed SD | reference acc % | difference pts ± seed SD [t 95% CI] | "
             "Holm p | significant | better/same/worse | params | MACs/inference | model bytes |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for c in r["compression"]:
        d = c["delta"]
        size = "–" if c["model_bytes"] is None else f"{c['model_bytes']:,.0f}"
        lines.append(f"| {c['variant']} | {c['reference']} | {c['test']} | {_pct(c['mean'])} ± "
                     f"{100 * c['seed_sd']:.1f} | {_pct(c['reference_mean'])} | {_stat(d)} | {_p(d['p_holm'])} | "
                     f"{_verdict(d)} | {_counts(d)} | {c['params']:,} | {c['macs_per_inference']:,} | {size} |")
    return lines


def _early_exit(r: dict) -> list[str]:
    if not r["early_exit"]:
        return []
    ch = r["exit_choice"]
    lines = ["", "## Early-exit cascade: the threshold swept over its whole range", "",
             "All windows of the held-out people (both trials), global model. Threshold on the exit's max "
             "probability: 0 lets every window exit; 'full path' is the model without the exit.", "",
             "| threshold | exit fraction % ± seed SD | accuracy % ± seed SD | avg MACs/window | vs full path "
             "| chosen by (fold-seeds) |", "| --- | --- | --- | --- | --- | --- |"]
    for e in r["early_exit"]:
        label = "full path" if e["threshold"] is None else f"{e['threshold']:g}"
        lines.append(f"| {label} | {_pct(e['exit_fraction'])} ± {100 * e['exit_seed_sd']:.1f} | "
                     f"{_pct(e['accuracy'])} ± {100 * e['accuracy_seed_sd']:.1f} | {e['avg_macs']:,.0f} | "
                     f"{100 * e['macs_fraction']:.0f}% | {e['chosen_by']} |")
    d = ch["delta"]
    lines += ["", f"Operating point ({ch['rule']}): thresholds {', '.join(f'{t:g}' for t in ch['thresholds'])} "
              f"per fold and seed; {_pct(ch['exit_fraction'])}% of windows exit, "
              f"{100 * ch['macs_fraction']:.0f}% of the full path's MACs, accuracy {_pct(ch['accuracy'])}% vs "
              f"{_pct(ch['full_accuracy'])}% (difference {_stat(d)}, Holm p {_p(d['p_holm'])}, "
              f"significant: {_verdict(d)})."]
    return lines


def format_report(r: dict[str, Any]) -> str:
    """Every table of the evaluation (the body of `models/RESULTS.md`)."""
    parts = _header(r) + _personalization(r) + _shares(r) + _curve(r) + _compression(r) + _early_exit(r)
    return "\n".join(parts) + "\n"


def format_summary(r: dict[str, Any]) -> str:
    """The README block: per shift, full fine-tuning's gain and the target; early exit; compression; cost."""
    full = {p["shift"]: p for p in r["personalization"] if p["technique"] == "full"}
    lines = [f"Cross-validated over {len(r['people'])} people ({len(r['folds'])} folds) and "
             f"{len(r['config']['seeds'])} seeds; gains are paired per person, Holm-adjusted "
             f"(full tables: `models/RESULTS.md`).", "",
             "| shift | global acc % | full fine-tuning gain pts [t 95% CI] | Holm p | best PEFT share of it "
             "| target (>= 80% at <= 5% params) |", "| --- | --- | --- | --- | --- | --- |"]
    for t in r["targets"]:
        f = full[t["shift"]]
        mine = [s for s in r["shares"] if s["shift"] == t["shift"] and s["share"] is not None]
        best = max(mine, key=lambda s: s["share"], default=None)
        share = "n/a" if best is None else f"{best['technique']} {100 * best['share']:.0f}%"
        lo, hi = f["gain"]["t_ci"]
        lines.append(f"| {t['shift']} | {_pct(f['global_mean'])} | {_pts(f['gain']['mean'])} [{_pts(lo)}, {_pts(hi)}] "
                     f"| {_p(f['gain']['p_holm'])} | {share} | {t['verdict']} |")
    if r["exit_choice"]:
        ch = r["exit_choice"]
        lines += ["", f"Early exit at the chosen thresholds ({', '.join(f'{t:g}' for t in ch['thresholds'])}): "
                  f"{_pct(ch['exit_fraction'])}% of windows exit, {100 * ch['macs_fraction']:.0f}% of the full "
                  f"path's MACs, accuracy {_pts(ch['delta']['mean'])} pts vs the full path "
                  f"(Holm p {_p(ch['delta']['p_holm'])})."]
    if r["compression"]:
        parts = [f"{c['variant']} vs {c['reference']} ({c['test']}) {_pts(c['delta']['mean'])} pts"
                 + (" (significant)" if c["delta"]["significant"] else "") for c in r["compression"]]
        lines += ["", "Compression, global model: " + "; ".join(parts) + "."]
    lines += ["", f"A clean-cache evaluation computes for {r['compute_seconds'] / 60:.0f} min on this 2-core "
              f"machine."]
    return "\n".join(lines)
