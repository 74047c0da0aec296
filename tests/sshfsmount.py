"""A real network file system for tests: sshfs, with no network listener at all.

``ssh``'s ProxyCommand runs ``sshd -i`` (inetd mode) on a pipe, with a host key and a user
key made for the test; sshfs mounts a local folder through it (file system type
``fuse.sshfs``, as a clinic's share mounted with sshfs shows in the mount table).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from cardimage import require, require_binaries, require_fuse

SSHD = "/usr/sbin/sshd"


def require_sshfs() -> None:
    require_binaries("sshfs", "ssh", "ssh-keygen", "fusermount")
    require(Path(SSHD).exists(), f"{SSHD} not found (Debian: openssh-server)")
    require_fuse()
    require(os.geteuid() == 0, "sshd in inetd mode for the sshfs mount needs root")


class SshfsMount:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.keys = root / "keys"
        self.remote = root / "remote"
        self.mountpoint = root / "mnt"
        for folder in (self.keys, self.remote, self.mountpoint):
            folder.mkdir(parents=True)
        self.mounted = False

    def mount(self) -> Path:
        for name in ("host", "user"):
            subprocess.run(
                ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(self.keys / name)],
                check=True,
                capture_output=True,
            )
        (self.keys / "sshd_config").write_text(
            f"HostKey {self.keys / 'host'}\n"
            f"AuthorizedKeysFile {self.keys / 'user.pub'}\n"
            "PermitRootLogin prohibit-password\nStrictModes no\nUsePAM no\n"
            "Subsystem sftp internal-sftp\n",
            encoding="utf-8",
        )
        (self.keys / "ssh_config").write_text(
            "Host share\n  User root\n"
            f"  IdentityFile {self.keys / 'user'}\n"
            "  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n"
            "  BatchMode yes\n  LogLevel ERROR\n"
            f"  ProxyCommand {SSHD} -i -f {self.keys / 'sshd_config'}\n",
            encoding="utf-8",
        )
        Path("/run/sshd").mkdir(exist_ok=True)  # sshd's privilege separation folder
        done = subprocess.run(
            [
                "sshfs",
                "-F",
                str(self.keys / "ssh_config"),
                f"share:{self.remote}",
                str(self.mountpoint),
            ],
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            check=False,
        )
        require(done.returncode == 0, f"sshfs could not mount: {done.stderr.strip()}")
        self.mounted = True
        return self.mountpoint

    def close(self) -> None:
        if self.mounted:
            done = subprocess.run(
                ["fusermount", "-u", str(self.mountpoint)], capture_output=True, check=False
            )
            if done.returncode != 0:  # still busy: detach it now, the kernel ends it when idle
                subprocess.run(["fusermount", "-u", "-z", str(self.mountpoint)], check=False)
            self.mounted = False
        shutil.rmtree(self.root, ignore_errors=True)
