import { z } from 'zod';
import { MANAGER_ROLES } from '../db/models/manager.js';

/**
 * Reusable input pieces. Every one accepts only a string (or number) of a bounded shape, so nothing a
 * client sends can reach a query as an object or operator.
 */

export const objectId = z.string().regex(/^[a-f0-9]{24}$/i, 'must be a 24-character hex id');
export const idParams = z.object({ id: objectId });

/** Page-scoped ids as Messenger sends them (digits), plus simulator-style ids. */
export const psid = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be a page-scoped id');

export const email = z
  .string()
  .trim()
  .max(254)
  .pipe(z.email({ message: 'must be an e-mail address' }))
  .transform((v) => v.toLowerCase());

export const role = z.enum(MANAGER_ROLES);

/** Tags: letters, digits, `_ - :`; no dots or dollars, at most 64 characters. */
export const tag = z
  .string()
  .trim()
  .regex(/^[\p{L}\p{N}][\p{L}\p{N}_:-]{0,63}$/u, 'must be 1–64 letters, digits, "_", "-" or ":"');

/** `true`/`false` in a query string. */
export const queryBool = z.enum(['true', 'false']).transform((v) => v === 'true');

export const label = (max: number) =>
  z
    .string()
    .trim()
    .min(1)
    .max(max)
    .refine(
      (v) => ![...v].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f),
      'must not contain control characters',
    );
