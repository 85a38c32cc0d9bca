import { accessSync, constants, mkdirSync } from 'node:fs';
import path from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';

// The system's Chromium (Debian's `chromium` package); a test tool's own browser download is not used.
const NAMES = ['chromium', 'chromium-browser', 'google-chrome-stable', 'google-chrome'];

const executable = (file: string): boolean => {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
};

/** The Chromium to drive: CHROMIUM_PATH, or the first of the usual names on the PATH. */
export function findChromium(): string | undefined {
  const given = process.env.CHROMIUM_PATH;
  if (given) return executable(given) ? given : undefined;
  for (const dir of (process.env.PATH ?? '').split(path.delimiter).filter(Boolean)) {
    for (const name of NAMES) {
      const file = path.join(dir, name);
      if (executable(file)) return file;
    }
  }
  return undefined;
}

/**
 * For `describe.runIf(requireChromium())`: true when a Chromium is installed; false (the suite is skipped) on a
 * developer's machine without one; throws in CI, where the browser tests must fail, not skip.
 */
export function requireChromium(): boolean {
  if (findChromium()) return true;
  const message = 'Chromium is not installed (apt-get install chromium, or set CHROMIUM_PATH)';
  if (process.env.CI === 'true') throw new Error(`${message}; the browser tests need it in CI`);
  console.warn(`${message}: skipping the browser tests`);
  return false;
}

/** Starts a headless Chromium with a fresh profile, offline except for the loopback interface. */
export async function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: findChromium(),
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/** Folder of the screenshots the browser tests save for a person to look at (git-ignored). */
export const SCREENSHOTS = path.resolve('test-results/screenshots');

/** Saves a screenshot of the page as test-results/screenshots/<name>.png. */
export async function screenshot(page: Page, name: string, fullPage = false): Promise<void> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage });
}
