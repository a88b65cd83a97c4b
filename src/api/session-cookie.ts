// The session cookie: httpOnly (scripts cannot read it), SameSite=Lax, Secure outside
// development and tests (with the __Host- prefix there, which pins it to this host and path /).
import type { Response } from 'express';
import type { AppConfig } from '../config/env.js';

export const SESSION_COOKIE = 'leadrelay_session';
const SECURE_SESSION_COOKIE = `__Host-${SESSION_COOKIE}`;

const isSecureCookie = (config: AppConfig) => config.env === 'production' || config.publicUrl.startsWith('https://');

export const sessionCookieName = (config: AppConfig) => (isSecureCookie(config) ? SECURE_SESSION_COOKIE : SESSION_COOKIE);

export function setSessionCookie(res: Response, config: AppConfig, value: string, maxAgeMs: number): void {
  res.cookie(sessionCookieName(config), value, { httpOnly: true, sameSite: 'lax', secure: isSecureCookie(config), path: '/', maxAge: maxAgeMs });
}

export function clearSessionCookie(res: Response, config: AppConfig): void {
  res.clearCookie(sessionCookieName(config), { httpOnly: true, sameSite: 'lax', secure: isSecureCookie(config), path: '/' });
}
