"""Run ``qgis_process`` with this repository installed as the plugin ``fusion_pv_mapping``.

Used by the demo, the end-to-end tests and the benchmarks. Debian's ``qgis_process`` wrapper passes an option
that QGIS 3.22 rejects, so the binary ``qgis_process.bin`` is called when it exists.
"""
import json
import os
import shutil
import subprocess
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PLUGIN_NAME = "fusion_pv_mapping"


def qgis_process_command():
    """Path of the qgis_process executable, or None when QGIS is not installed."""
    for candidate in ("/usr/bin/qgis_process.bin", shutil.which("qgis_process.bin"), shutil.which("qgis_process")):
        if candidate and os.path.exists(candidate):
            return candidate
    return None


class QgisProcess:
    """``qgis_process`` with a throw-away QGIS profile whose plugin folder links to ``plugin_root``."""

    def __init__(self, plugin_root=ROOT, home=None):
        self.command = qgis_process_command()
        if self.command is None:
            raise RuntimeError("qgis_process is not installed (apt-get install qgis); run `make deps`.")
        self.home = home or tempfile.mkdtemp(prefix="fusionpv-qgis-")
        plugins = os.path.join(self.home, "plugins")
        os.makedirs(plugins, exist_ok=True)
        link = os.path.join(plugins, PLUGIN_NAME)
        if not os.path.lexists(link):
            os.symlink(os.path.abspath(plugin_root), link, target_is_directory=True)
        self.env = dict(os.environ, QT_QPA_PLATFORM="offscreen", QGIS_PLUGINPATH=plugins,
                        QGIS_CUSTOM_CONFIG_PATH=os.path.join(self.home, "config"))
        enabled = self.run("plugins", "enable", PLUGIN_NAME)
        if enabled.returncode != 0:
            raise RuntimeError("qgis_process could not enable the plugin:\n" + enabled.stderr)

    def run(self, *arguments, timeout=3600, prefix=()):
        """Run ``qgis_process`` with ``arguments``; returns the CompletedProcess (text output)."""
        return subprocess.run([*prefix, self.command, *arguments], env=self.env, capture_output=True, text=True,
                              timeout=timeout)

    def run_algorithm(self, algorithm, parameters, prefix=()):
        """Run an algorithm with ``--json``; returns (CompletedProcess, parsed JSON or None on failure).

        ``parameters`` maps names to a value or a list of values (a list repeats the parameter, as QGIS expects
        for several layers).
        """
        arguments = []
        for name, value in parameters.items():
            for item in value if isinstance(value, (list, tuple)) else [value]:
                arguments.append("%s=%s" % (name, item))
        completed = self.run("--json", "run", algorithm, "--", *arguments, prefix=prefix)
        if completed.returncode != 0:
            return completed, None
        return completed, json.loads(completed.stdout[completed.stdout.index("{"):])
