// Mail for single-use links, through nodemailer when SMTP_URL is set. Without it nothing is sent
// (and nothing is logged: a link is a secret); the CLI prints reset links and the inviting admin
// gets the invitation link in the API's answer instead.
import nodemailer from 'nodemailer';
import type { AppConfig } from '../config/env.js';

export interface Mail {
  to: string;
  subject: string;
  text: string;
}

export const canSendMail = (config: AppConfig) => Boolean(config.smtp.url);

/** Sends one mail; throws when SMTP refuses (the caller decides whether that fails the request). */
export async function sendMail(config: AppConfig, mail: Mail): Promise<void> {
  if (!config.smtp.url) throw new Error('SMTP_URL is not set');
  const transport = nodemailer.createTransport(config.smtp.url);
  try {
    await transport.sendMail({ from: config.smtp.from, to: mail.to, subject: mail.subject, text: mail.text });
  } finally {
    transport.close();
  }
}
