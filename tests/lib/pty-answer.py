#!/usr/bin/env python3
"""Runs a command on a terminal of its own and answers its prompts, as an
admin at the keyboard would: pty-answer.py PROMPT ANSWER [PROMPT ANSWER...]
-- COMMAND [ARGS...]. Each PROMPT is waited for (at most 30 s) in what the
command prints, then ANSWER and a newline are typed. Everything the command
printed is copied to standard output; the exit status is the command's, or
124 when a prompt never came."""
import os
import pty
import select
import sys
import time

TIMEOUT = 30.0


def main():
    args = sys.argv[1:]
    sep = args.index("--")
    pairs, cmd = args[:sep], args[sep + 1:]
    if len(pairs) % 2 or not cmd:
        sys.exit("usage: pty-answer.py PROMPT ANSWER ... -- COMMAND [ARGS...]")
    pid, fd = pty.fork()
    if pid == 0:
        os.execvp(cmd[0], cmd)
    seen = b""
    status = None
    for i in range(0, len(pairs), 2):
        prompt, answer = pairs[i].encode(), pairs[i + 1].encode()
        end = time.monotonic() + TIMEOUT
        while prompt not in seen:
            left = end - time.monotonic()
            r, _, _ = select.select([fd], [], [], max(left, 0))
            if not r:
                sys.stdout.write(seen.decode(errors="replace"))
                print(f"\npty-answer: no prompt {pairs[i]!r} within {TIMEOUT} s")
                os.kill(pid, 9)
                os.waitpid(pid, 0)
                sys.exit(124)
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                chunk = b""
            if not chunk:
                break
            seen += chunk
        # what came before the prompt is consumed; a later prompt with
        # the same text must be printed anew
        sys.stdout.write(seen.decode(errors="replace"))
        seen = b""
        os.write(fd, answer + b"\n")
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        sys.stdout.write(chunk.decode(errors="replace"))
    _, status = os.waitpid(pid, 0)
    sys.exit(os.waitstatus_to_exitcode(status))


main()
