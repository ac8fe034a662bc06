// Runs a MicroPython-side test script under the real MicroPython (WebAssembly port).
// Usage: node run_micropython.mjs <firmware dir> <golden vectors json> <test script> [--sync] [--mpy=DIR] [--heapsize=N]
// Copies firmware/holdsense_fw (and firmware/main.py as /fw/main.py) into the interpreter's file system as /fw/holdsense_fw,
// the vectors as /vectors.json, then runs the script; exit code 0 only if it prints "MP-OK".
import { loadMicroPython } from "@micropython/micropython-webassembly-pyscript";
import fs from "node:fs";
import path from "node:path";

// Option --mpy=DIR: holdsense_fw from the .mpy files in DIR (compiled by mpy-cross) instead of the .py
// sources: as deployed, without the compiler's memory.
const [fwDir, vectors, script] = process.argv.slice(2);
const opt = (name) => { const a = process.argv.find((x) => x.startsWith(name + "=")); return a && a.slice(name.length + 1); };
let out = "";
// Option --heapsize=N: the interpreter's initial heap in bytes (the ESP32-C3 starts with 64 KiB; this
// port grows its heap when that is full, so it is a starting size, not a limit).
const heapsize = opt("--heapsize");
const mp = await loadMicroPython({ ...(heapsize ? { heapsize: Number(heapsize) } : {}), stdout: (s) => { out += s; process.stdout.write(s); },
                                   stderr: (s) => { out += s; process.stderr.write(s); } });
mp.FS.mkdir("/fw");
mp.FS.mkdir("/fw/holdsense_fw");
const mpyDir = opt("--mpy");
const srcDir = mpyDir || path.join(fwDir, "holdsense_fw");
for (const name of fs.readdirSync(srcDir)) {
  if (name.endsWith(mpyDir ? ".mpy" : ".py")) {
    mp.FS.writeFile("/fw/holdsense_fw/" + name, fs.readFileSync(path.join(srcDir, name)));
  }
}
if (fs.existsSync(path.join(fwDir, "main.py"))) {
  mp.FS.writeFile("/fw/main.py", fs.readFileSync(path.join(fwDir, "main.py")));  // the board's main.py
}
const fakes = path.join(path.dirname(script), "mp_fakes.py");  // the one file of test doubles every script imports
if (fs.existsSync(fakes)) mp.FS.writeFile("/fw/mp_fakes.py", fs.readFileSync(fakes));
mp.FS.writeFile("/vectors.json", fs.readFileSync(vectors));
mp.FS.mkdir("/flash");
try {
  // --sync: runPython instead of runPythonAsync (note: gc.collect() frees nothing in either mode on
  // this port, checked: gc.mem_alloc() after a collect stays at everything allocated so far)
  if (process.argv.includes("--sync")) mp.runPython(fs.readFileSync(script, "utf8"));
  else await mp.runPythonAsync(fs.readFileSync(script, "utf8"));
} catch (e) {
  process.stderr.write(String(e) + "\n");
  process.exit(1);
}
process.exit(out.includes("MP-OK") ? 0 : 1);
