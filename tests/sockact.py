#!/usr/bin/env python3
"""sockact: start a program the way systemd socket activation does, for tests.

    sockact.py [--connected] PORTFILE PROGRAM [ARGS...]

Listens on 127.0.0.1, a free port, and writes the port to PORTFILE.  Then
passes descriptor 3 to PROGRAM with LISTEN_FDS=1 and LISTEN_PID set to the
pid PROGRAM will have (exec keeps it): the listening socket itself (as with
Accept=no), or with --connected the first connection accepted on it (as
with Accept=yes).
"""
import os
import socket
import sys


def main():
    args = sys.argv[1:]
    connected = False
    if args and args[0] == "--connected":
        connected = True
        args = args[1:]
    if len(args) < 2:
        sys.stderr.write(__doc__)
        return 2
    portfile, prog = args[0], args[1:]
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.bind(("127.0.0.1", 0))
    ls.listen(64)
    with open(portfile + ".tmp", "w") as f:
        f.write("%d\n" % ls.getsockname()[1])
    os.rename(portfile + ".tmp", portfile)
    s = ls
    if connected:
        s, _ = ls.accept()
        ls.close()
    fd = s.detach()
    if fd != 3:
        os.dup2(fd, 3)
        os.close(fd)
    os.set_inheritable(3, True)
    env = dict(os.environ, LISTEN_FDS="1", LISTEN_PID=str(os.getpid()),
               LISTEN_FDNAMES="ktlscp")
    os.execvpe(prog[0], prog, env)


if __name__ == "__main__":
    sys.exit(main())
