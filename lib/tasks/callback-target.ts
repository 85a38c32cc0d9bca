import dns from 'node:dns';
import type { LookupFunction } from 'node:net';
import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';

// Where a callback may go. Deployed stages send callbacks to public unicast addresses only, so that a task's
// callback_url cannot reach the service's own network (loopback, private ranges, link-local and the cloud's metadata
// endpoint, unique-local, carrier-grade NAT, multicast, reserved and the like). The check runs on every address a
// name resolves to, at send time, and the connection goes to an address that passed it: a name that resolves to a
// public address when checked and to a private one a moment later (DNS rebinding) cannot slip through.
// ipaddr.js classifies the addresses: its range names follow the IANA special-purpose registries.

/** Which non-public targets are allowed (CALLBACK_ALLOW_PRIVATE). */
export type AllowPrivate = 'false' | 'loopback' | 'true';

/** One resolved address. */
export interface ResolvedAddress {
  address: string;
  family: number;
}

/** Resolves a host name to all its addresses (tests inject their own). */
export type Resolver = (hostname: string) => Promise<ResolvedAddress[]>;

export const systemResolver: Resolver = (hostname) => dns.promises.lookup(hostname, { all: true, verbatim: true });

/** A callback target the configuration does not allow. */
export class RefusedTargetError extends Error {
  override name = 'RefusedTargetError';
}

/** Why an address may not be a callback target, or undefined when it may. */
export function addressRefusal(address: string, allow: AllowPrivate): string | undefined {
  if (allow === 'true') return undefined;
  let range: string;
  try {
    // An IPv4-mapped IPv6 address (::ffff:10.0.0.1) is classified as the IPv4 address it carries.
    range = ipaddr.process(address).range();
  } catch {
    return `${address} is not an IP address ipaddr.js can classify`;
  }
  if (range === 'unicast') return undefined;
  if (range === 'loopback' && allow === 'loopback') return undefined;
  return `${address} is a ${range} address (not allowed by CALLBACK_ALLOW_PRIVATE=${allow})`;
}

/** The host of a URL as an address when it is an IP literal (brackets of IPv6 removed), else undefined. */
export function literalAddress(url: URL): string | undefined {
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  return isIP(host) ? host : undefined;
}

/**
 * A `lookup` for node:http that resolves the name, refuses it when any of its addresses is not allowed, and hands the
 * connection the checked addresses only.
 */
export function checkedLookup(allow: AllowPrivate, resolve: Resolver = systemResolver): LookupFunction {
  return (hostname, options, callback) => {
    resolve(hostname).then(
      (addresses) => {
        const wanted = options.family === 4 || options.family === 6 ? addresses.filter((a) => a.family === options.family) : addresses;
        if (wanted.length === 0) {
          callback(Object.assign(new Error(`${hostname} has no address`), { code: 'ENOTFOUND' }), '', 0);
          return;
        }
        for (const a of wanted) {
          const refusal = addressRefusal(a.address, allow);
          if (refusal) {
            callback(new RefusedTargetError(`refused: ${hostname}: ${refusal}`), '', 0);
            return;
          }
        }
        if (options.all) callback(null, wanted);
        else callback(null, (wanted[0] as ResolvedAddress).address, (wanted[0] as ResolvedAddress).family);
      },
      (err: Error) => callback(err as NodeJS.ErrnoException, '', 0),
    );
  };
}
