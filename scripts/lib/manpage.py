#!/usr/bin/env python3
"""ossmount(8) and the bash completion's option list, generated from
docs/CONFIGURATION.md's option table, the one source of truth for options.
   manpage.py man FILE        writes the man page
   manpage.py options         prints the -o option names, one line"""
import datetime
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "CONFIGURATION.md"


def rows():
    """(names, default, meaning) of each row of the Options table."""
    text = DOC.read_text()
    table = text.split("## Options", 1)[1].split("\n## ", 1)[0]
    out = []
    for line in table.splitlines():
        if not line.startswith("| `"):
            continue
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
        names = re.findall(r"`([a-z_0-9.]+)[=`]", cells[0])
        out.append((names, cells[1], cells[2]))
    return out


def option_names():
    return sorted({n for names, _, _ in rows() for n in names})


def roff(text):
    text = text.replace("\\|", "|").replace("\\", "\\\\")
    text = re.sub(r"`([^`]*)`", r"\\fB\1\\fR", text)
    return text.replace("\n.", "\n\\&.")


def man():
    date = datetime.date.today().isoformat()
    out = [f'.TH OSSMOUNT 8 "{date}" "ossmount" "System Administration"',
           ".SH NAME", "ossmount \\- mount an Alibaba Cloud OSS bucket as a directory (FUSE)",
           ".SH SYNOPSIS",
           ".B ossmount\nBUCKET[:/PREFIX] MOUNTPOINT [\\-o OPTION[,OPTION...]] [\\-f] [\\-c FILE] [\\-\\-print\\-config]",
           ".br\n.B ossmount mount\nMOUNTPOINT \\-\\-oss_bucket=B \\-\\-oss_endpoint=E [\\-\\-NAME=VALUE ...] [\\-c FILE]",
           ".br\n.B ossmount uploads\nlist|abort BUCKET[:/PREFIX] [\\-\\-older\\-than AGE | \\-\\-all] \\-o endpoint=...",
           ".br\n.B mount \\-t fuse.ossmount\nBUCKET[:/PREFIX] MOUNTPOINT \\-o OPTIONS",
           ".SH DESCRIPTION",
           "ossmount mounts a bucket, or a prefix of it, at MOUNTPOINT and returns once the mount answers "
           "(\\-f stays in the foreground, for sidecars and systemd's Type=notify). Options of ossfs 2.0, "
           "ossfs 1.x and JindoFuse are mapped or accepted with a warning; see the documentation.",
           ".SH OPTIONS"]
    for names, default, meaning in rows():
        head = ", ".join(f"\\fB{n}\\fR" for n in names)
        out += [".TP", head + (f" (default: {roff(default)})" if default and default != "—" else ""), roff(meaning)]
    out += [".SH SIGNALS",
            "SIGTERM and SIGINT store the files open for writing within \\fBshutdown_timeout\\fR, then unmount; "
            "the exit status is 1 when some could not be stored. SIGHUP reopens \\fBlog_file\\fR.",
            ".SH FILES", "/etc/passwd-ossfs, /mnt/.alibabacloud/credentials, /etc/ossmount/*.conf",
            ".SH SEE ALSO", "fusermount3(1), mount(8), /usr/share/doc/ossmount/"]
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    if sys.argv[1] == "man":
        pathlib.Path(sys.argv[2]).write_text(man())
    else:
        print(" ".join(option_names()))
