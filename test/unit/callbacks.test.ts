import { describe, expect, it } from 'vitest';
import { LOCAL_CALLBACK_SECRET, parseConfig } from '#lib/config';
import { addressRefusal } from '#lib/tasks/callback-target';
import { retryDelayMs, signature } from '#lib/tasks/callbacks';

describe('callback settings and rules', () => {
  it('signs and allows loopback on the local stage only; a deployed stage has no secret unless given, and public targets only', () => {
    expect(parseConfig({})).toMatchObject({ CALLBACK_SECRET: LOCAL_CALLBACK_SECRET, CALLBACK_ALLOW_PRIVATE: 'loopback' });
    expect(parseConfig({ STAGE: 'prod' })).toMatchObject({ CALLBACK_SECRET: undefined, CALLBACK_ALLOW_PRIVATE: 'false' });
    expect(parseConfig({ STAGE: 'prod', CALLBACK_SECRET: 's'.repeat(32), CALLBACK_ALLOW_PRIVATE: 'true' })).toMatchObject({
      CALLBACK_SECRET: 's'.repeat(32),
      CALLBACK_ALLOW_PRIVATE: 'true',
    });
    expect(() => parseConfig({ CALLBACK_SECRET: 'short' })).toThrow(/CALLBACK_SECRET: must be at least 16 characters/);
    expect(() => parseConfig({ CALLBACK_ALLOW_PRIVATE: 'yes' })).toThrow(/CALLBACK_ALLOW_PRIVATE/);
  });

  it('retries after 10 s, 30 s, 1 min, 5 min, 15 min, 30 min, then every hour, for at least 24 hours', () => {
    const c = parseConfig({});
    const delays = Array.from({ length: 30 }, (_, i) => retryDelayMs(i + 1, c));
    expect(delays.slice(0, 8)).toEqual([10_000, 30_000, 60_000, 300_000, 900_000, 1_800_000, 3_600_000, 3_600_000]);
    expect(Math.max(...delays)).toBe(3_600_000);
    // The last attempt comes once CALLBACK_RETRY_FOR_MS has passed: the 31st with the defaults, after 24 h 52 min.
    let at = 0;
    let attempts = 1;
    while (at < c.CALLBACK_RETRY_FOR_MS) at += retryDelayMs(attempts++, c);
    expect(at).toBeGreaterThanOrEqual(24 * 3_600_000);
    expect(attempts).toBe(31);
    expect(at).toBe(24 * 3_600_000 + 3_100_000);
  });

  it('signs the raw body as GitHub does: sha256=<hex HMAC-SHA256>', () => {
    // RFC 4231 test case 2.
    expect(signature('what do ya want for nothing?', 'Jefe')).toBe(
      'sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843',
    );
  });

  it('classifies addresses with ipaddr.js: public unicast only, loopback when allowed', () => {
    const refused = (a: string, allow: 'false' | 'loopback' | 'true' = 'false') => addressRefusal(a, allow)?.replace(/ \(.*$/, '');
    expect(refused('93.184.215.14')).toBeUndefined();
    expect(refused('2606:2800:21f:cb07:6820:80da:af6b:8b2c')).toBeUndefined();
    expect(refused('127.0.0.1')).toBe('127.0.0.1 is a loopback address');
    expect(refused('127.0.0.1', 'loopback')).toBeUndefined();
    expect(refused('::1', 'loopback')).toBeUndefined();
    expect(refused('10.0.0.1', 'loopback')).toBe('10.0.0.1 is a private address');
    expect(refused('10.0.0.1', 'true')).toBeUndefined();
    expect(refused('172.16.5.4')).toBe('172.16.5.4 is a private address');
    expect(refused('192.168.1.1')).toBe('192.168.1.1 is a private address');
    expect(refused('169.254.169.254')).toBe('169.254.169.254 is a linkLocal address');
    expect(refused('fe80::1')).toBe('fe80::1 is a linkLocal address');
    expect(refused('fd00:ec2::254')).toBe('fd00:ec2::254 is a uniqueLocal address');
    expect(refused('100.64.0.1')).toBe('100.64.0.1 is a carrierGradeNat address');
    expect(refused('224.0.0.1')).toBe('224.0.0.1 is a multicast address');
    expect(refused('ff02::1')).toBe('ff02::1 is a multicast address');
    expect(refused('0.0.0.0')).toBe('0.0.0.0 is a unspecified address');
    expect(refused('::')).toBe(':: is a unspecified address');
    expect(refused('255.255.255.255')).toBe('255.255.255.255 is a broadcast address');
    expect(refused('::ffff:127.0.0.1')).toBe('::ffff:127.0.0.1 is a loopback address');
    expect(refused('64:ff9b::a00:1')).toBe('64:ff9b::a00:1 is a rfc6052 address');
    expect(refused('999.1.1.1')).toBe('999.1.1.1 is not an IP address ipaddr.js can classify');
  });
});
