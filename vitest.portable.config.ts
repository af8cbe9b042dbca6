// The tests that need only Node and files committed in the repository: no e2fsprogs, gdisk, qemu-img,
// python3, root or loop devices, and no ../shared/corpora. CI runs them on Windows and macOS
// (.github/workflows/ci.yml); `vitest run --config vitest.portable.config.ts` runs them anywhere.
// A file is listed only when it passes with no test skipped on a machine that has nothing but node (and,
// for the browser-window smoke test, the Chrome every CI runner has).
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: [
      'test/actions/disks.test.ts',
      'test/actions/host-mounts-other.test.ts',
      'test/actions/progress.test.ts',
      'test/actions/repair/space.test.ts',
      'test/device/aligned-device.test.ts',
      'test/device/cow-device.test.ts',
      'test/device/faulty-device.test.ts',
      'test/device/file-device.test.ts',
      'test/device/map-os-error.test.ts',
      'test/device/memory-device.test.ts',
      'test/device/probe-size.test.ts',
      'test/device/rescuer.test.ts',
      'test/device/slice-device.test.ts',
      'test/disks/macos.test.ts',
      'test/disks/run-command.test.ts',
      'test/disks/windows.test.ts',
      'test/ext4/parse-path.test.ts',
      'test/ha/securetar.test.ts',
      // The browser window: its server's refusals, and the page in the runner's Chrome (skipped without one).
      'test/integration/gui-security.test.ts',
      'test/integration/gui-smoke.test.ts',
    ],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
  },
});
