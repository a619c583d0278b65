# Writes kernels.cpp: jgpt's kernel files behind shim.h, and for each kernel a launcher that copies its
# arguments out of cuLaunchKernel's parameter array (as the driver does) and queues the grid's run.
import re, sys, os
src = sys.argv[1]
files = sorted(f for f in os.listdir(src) if f.endswith(".cu"))  # every kernel file, so a new one is simulated too
out = []
out.append('#include "shim.h"')
out.append('#include "common.cuh"')
for f in files: out.append('#include "%s"' % f)
regs = []
pat = re.compile(r'extern "C" __global__ void (?:__launch_bounds__\([^)]*\) )?(\w+)\(([^)]*)\)')
for f in files:
    text = open(os.path.join(src, f)).read()
    for m in pat.finditer(text):
        name, params = m.group(1), m.group(2)
        decls = [re.sub(r'\s+', ' ', p.strip()) for p in params.split(',')]
        types = [d[:d.rfind(' ')].strip() for d in decls]
        lines = []
        for i, t in enumerate(types):
            lines.append('  %s a%d = *(%s*) p[%d];' % (t, i, t, i))
        args = ', '.join('a%d' % i for i in range(len(types)))
        out.append('static void L_%s(void** p, LaunchDims d) {\n%s\n  enqueue([=]{ runGrid(d, [=]{ %s(%s); }); });\n}' % (name, '\n'.join(lines), name, args))
        regs.append('  {"%s", L_%s},' % (name, name))
out.append('KernelEntry kernelTable[] = {\n%s\n  {nullptr, nullptr}};' % '\n'.join(regs))
print('\n'.join(out))
