"""Turns a benchmark run (suite.py) into bench-results/<date>.json, a Markdown
table with ratios and targets, and a PNG bar chart."""
import json
import os
import platform
import subprocess

PEERS = ["s3fs", "rclone-off", "rclone-full"]
TOTAL_MEM_LIMIT_MIB = 1024  # ossmount's default total_mem_limit


def machine():
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    mem = next(int(l.split()[1]) for l in open("/proc/meminfo") if l.startswith("MemTotal"))
    def version(cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True).stdout.splitlines()[0].strip()
        except (OSError, IndexError):
            return "?"
    return {"cpu": cpu, "cores": os.cpu_count(), "mem_gib": round(mem / (1 << 20)), "kernel": platform.release(),
            "os": next((l.split("=", 1)[1].strip().strip('"') for l in open("/etc/os-release")
                        if l.startswith("PRETTY_NAME")), "?"),
            "s3fs": version(["s3fs", "--version"]), "rclone": version(["rclone", "version"])}


def fmt(x):
    return f"{x:.0f}" if abs(x) >= 100 else f"{x:.1f}" if abs(x) >= 10 else f"{x:.2f}"


def figure(doc, who, w):
    r = doc["results"].get(who, {}).get(w)
    return r["median"] if r else None


def ratio(doc, w, a, b):
    """How many times better `a` is than `b` on workload `w` (>1: a is better)."""
    x, y = figure(doc, a, w), figure(doc, b, w)
    if not x or not y:
        return None
    return x / y if doc["workloads"][w]["higher_is_better"] else y / x


def targets(doc):
    """(description, measured, goal, met) for each target of issue [bench]."""
    out = []
    def add(text, value, goal, met):
        if value is not None:
            out.append((text, value, goal, met(value)))
    add("seq read 1 reader vs raw curl GET", ratio(doc, "seq_read_1", "ossmount", "ceiling"), ">= 0.6x", lambda v: v >= 0.6)
    add("seq read 1 reader vs s3fs", ratio(doc, "seq_read_1", "ossmount", "s3fs"), ">= 3x", lambda v: v >= 3)
    add("seq read 4 readers vs raw 4-range GET", ratio(doc, "seq_read_4", "ossmount", "ceiling"), ">= 0.7x",
        lambda v: v >= 0.7)
    add("10,000 x 100 KiB, 8 threads vs s3fs", ratio(doc, "small_files_8", "ossmount", "s3fs"), ">= 5x", lambda v: v >= 5)
    add("ls -l 10,000 entries cold (s)", figure(doc, "ossmount", "ls_l_10k"), "<= 1 s", lambda v: v <= 1)
    add("ls -l 10,000 entries vs s3fs", ratio(doc, "ls_l_10k", "ossmount", "s3fs"), ">= 10x", lambda v: v >= 10)
    add("seq write 1 GiB incl. close vs raw PUT", ratio(doc, "seq_write_1g", "ossmount", "ceiling"), ">= 0.6x",
        lambda v: v >= 0.6)
    add("random 4 KiB reads, cold, vs s3fs", ratio(doc, "random_4k", "ossmount", "s3fs"), ">= 1x", lambda v: v >= 1)
    add("random 4 KiB reads, cached (IOPS)", figure(doc, "ossmount", "random_4k_cached"), ">= 20000",
        lambda v: v >= 20000)
    rss = [r["peak_rss_mib"] for r in doc["results"].get("ossmount", {}).values()]
    add("peak RSS, any workload (MiB)", max(rss) if rss else None, f"<= {TOTAL_MEM_LIMIT_MIB + 64}",
        lambda v: v <= TOTAL_MEM_LIMIT_MIB + 64)
    o = doc["results"].get("ossmount", {}).get("seq_read_1", {}).get("cpu_s_per_gib")
    s = doc["results"].get("s3fs", {}).get("seq_read_1", {}).get("cpu_s_per_gib")
    add("CPU s per GiB read vs s3fs", o / s if o and s else None, "<= 0.5x", lambda v: v <= 0.5)
    return out


def markdown(doc):
    m = doc["machine"]
    who = [w for w in ["ceiling", "ossmount"] + PEERS if w in doc["results"]]
    lines = [f"# Benchmarks {doc['date']} (commit {doc['commit']})", "",
             f"Machine: {m['cpu']}, {m['cores']} cores, {m['mem_gib']} GiB, {m['os']}, kernel {m['kernel']}; "
             f"{m['s3fs']}; {m['rclone']}. One osslocal (`--memory --anonymous`) on loopback serves every mounter"
             f"{' over HTTPS (its own CA; the ceiling is curl over TLS)' if doc.get('transport') == 'https' else ''}; "
             f"each figure is the median of {doc['runs']} runs (min–max), each run on a fresh mount with the page "
             f"cache dropped. Method: docs/BENCHMARKS.md. Whole run: {doc['elapsed_s'] // 60} min.", "",
             "| workload | unit | " + " | ".join(who) + " | ossmount vs ceiling | ossmount vs s3fs | vs rclone-off | vs rclone-full |",
             "|---|---|" + "---|" * (len(who) + 4)]
    for w, meta in doc["workloads"].items():
        cells = []
        for x in who:
            r = doc["results"][x].get(w)
            cells.append(f"{fmt(r['median'])} ({fmt(r['min'])}–{fmt(r['max'])}, {len(r['runs'])} runs)" if r else "")
        ratios = [ratio(doc, w, "ossmount", x) for x in ["ceiling"] + PEERS]
        lines.append(f"| {w} | {meta['unit']}{'' if meta['higher_is_better'] else ' (lower is better)'} | "
                     + " | ".join(cells) + " | " + " | ".join(f"{r:.2f}x" if r else "" for r in ratios) + " |")
    lines += ["", "Mounter CPU seconds (user+sys) per GiB moved, and peak RSS (MiB):", "",
              "| workload | " + " | ".join(f"{x} CPU s/GiB | {x} RSS" for x in who if x != "ceiling") + " |",
              "|---|" + "---|---|" * (len(who) - 1)]
    for w in doc["workloads"]:
        cells = []
        for x in who:
            if x == "ceiling":
                continue
            r = doc["results"][x].get(w)
            cpu = r and r.get("cpu_s_per_gib")
            cells += [f"{cpu:.2f}" if cpu else (f"{r['cpu_s']:.1f} s" if r else ""), f"{r['peak_rss_mib']:.0f}" if r else ""]
        lines.append(f"| {w} | " + " | ".join(cells) + " |")
    lines += ["", "osslocal CPU seconds per GiB while each mounter ran (the server's share; over HTTPS it encrypts):",
              "", "| workload | " + " | ".join(x for x in who if x != "ceiling") + " |", "|---|" + "---|" * (len(who) - 1)]
    for w in doc["workloads"]:
        cpus = [doc["results"][x].get(w, {}).get("server_cpu_s_per_gib") for x in who if x != "ceiling"]
        lines.append(f"| {w} | " + " | ".join(f"{c:.2f}" if c else "" for c in cpus) + " |")
    lines += ["", "Targets (issue [bench]):", "", "| target | measured | goal | met |", "|---|---|---|---|"]
    for text, value, goal, met in targets(doc):
        lines.append(f"| {text} | {value:.2f} | {goal} | {'yes' if met else '**no**'} |")
    return "\n".join(lines) + "\n"


def chart(doc, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    who = [w for w in ["ceiling", "ossmount"] + PEERS if w in doc["results"]]
    names = list(doc["workloads"])
    fig, axes = plt.subplots(1, len(names), figsize=(3 * len(names), 4.2))
    colors = {"ceiling": "#999999", "ossmount": "#d9480f", "s3fs": "#1c7ed6", "rclone-off": "#37b24d",
              "rclone-full": "#74b816"}
    for ax, w in zip(axes if len(names) > 1 else [axes], names):
        xs = [x for x in who if w in doc["results"][x]]
        vals = [doc["results"][x][w]["median"] for x in xs]
        ax.bar(range(len(xs)), vals, color=[colors[x] for x in xs])
        ax.set_xticks(range(len(xs)))
        ax.set_xticklabels(xs, rotation=60, ha="right", fontsize=8)
        unit = doc["workloads"][w]["unit"]
        ax.set_title(f"{w}\n{unit}{'' if doc['workloads'][w]['higher_is_better'] else ' (lower better)'}", fontsize=9)
        ax.tick_params(axis="y", labelsize=8)
    fig.suptitle(f"ossmount vs peers vs ceiling ({doc['date'][:10]}, {doc['machine']['cores']} cores, loopback osslocal)",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def write(doc, out_dir):
    os.makedirs(out_dir, exist_ok=True)
    suffix = "-tls" if doc.get("transport") == "https" else ""
    stem = os.path.join(out_dir, doc["date"][:10] + suffix)
    doc["targets"] = [{"target": t, "measured": v, "goal": g, "met": m} for t, v, g, m in targets(doc)]
    with open(stem + ".json", "w") as f:
        json.dump(doc, f, indent=1)
    with open(stem + ".md", "w") as f:
        f.write(markdown(doc))
    chart(doc, stem + ".png")
    for ext in ["json", "md", "png"]:  # stable names for the README
        latest = os.path.join(out_dir, f"latest{suffix}.{ext}")
        if os.path.lexists(latest):
            os.unlink(latest)
        os.symlink(os.path.basename(stem) + "." + ext, latest)
    return [stem + ".json", stem + ".md", stem + ".png"]
