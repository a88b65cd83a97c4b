// A loopback SMTP server for tests (RFC 5321's plain conversation, no TLS, no auth): it accepts
// every message and keeps it, so a test can read the link a mail carried. `refuse` makes it
// answer DATA with a permanent failure, as a server refusing a recipient would.
import net from 'node:net';

export interface ReceivedMail {
  from: string;
  to: string[];
  /** The message as sent (headers and body), dot-unstuffed. */
  data: string;
}

export interface FakeSmtp {
  url: string;
  mails: ReceivedMail[];
  refuse: boolean;
  close(): Promise<void>;
}

export async function startFakeSmtp(): Promise<FakeSmtp> {
  const fake: FakeSmtp = { url: '', mails: [], refuse: false, close: async () => {} };
  const server = net.createServer((socket) => {
    socket.setEncoding('utf8');
    let buffer = '';
    let inData = false;
    let dataLines: string[] = [];
    let from = '';
    let to: string[] = [];
    const reply = (line: string) => socket.write(`${line}\r\n`);
    reply('220 fake-smtp ready');
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      let i = buffer.indexOf('\r\n');
      while (i >= 0) {
        const line = buffer.slice(0, i);
        buffer = buffer.slice(i + 2);
        if (inData) {
          if (line === '.') {
            inData = false;
            if (fake.refuse) reply('554 5.7.1 message refused');
            else {
              fake.mails.push({ from, to, data: dataLines.join('\r\n') });
              reply('250 2.0.0 queued');
            }
            dataLines = [];
          } else dataLines.push(line.startsWith('..') ? line.slice(1) : line);
        } else {
          const verb = line.slice(0, 4).toUpperCase();
          if (verb === 'EHLO' || verb === 'HELO') reply('250 fake-smtp');
          else if (verb === 'MAIL') {
            from = /<([^>]*)>/.exec(line)?.[1] ?? '';
            to = [];
            reply('250 2.1.0 ok');
          } else if (verb === 'RCPT') {
            to.push(/<([^>]*)>/.exec(line)?.[1] ?? '');
            reply('250 2.1.5 ok');
          } else if (verb === 'DATA') {
            inData = true;
            reply('354 end with <CRLF>.<CRLF>');
          } else if (verb === 'RSET') reply('250 ok');
          else if (verb === 'NOOP') reply('250 ok');
          else if (verb === 'QUIT') {
            reply('221 bye');
            socket.end();
          } else reply('502 5.5.2 command not implemented');
        }
        i = buffer.indexOf('\r\n');
      }
    });
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as net.AddressInfo;
  fake.url = `smtp://127.0.0.1:${port}`;
  fake.close = () => new Promise<void>((resolve) => server.close(() => resolve()));
  return fake;
}

/** The first http(s) link in a mail's body (quoted-printable soft breaks undone). */
export function linkIn(mail: ReceivedMail): string | undefined {
  const body = mail.data.replace(/=\r\n/g, '').replace(/=3D/g, '=');
  return /https?:\/\/[^\s]+/.exec(body)?.[0];
}

/** A mail as a person reads it: the subject (folded lines joined, RFC 2047 encoded words decoded) and the quoted-printable body decoded. */
export function readMail(mail: ReceivedMail): { subject: string; body: string } {
  const [head = '', ...rest] = mail.data.split('\r\n\r\n');
  const qp = (text: string) =>
    Buffer.from(
      text.replace(/=([0-9A-F]{2})/gi, (_m, hex: string) => String.fromCharCode(Number.parseInt(hex, 16))),
      'latin1',
    ).toString('utf8');
  const subject = (/^Subject: (.*)$/m.exec(head.replace(/\r\n[ \t]+/g, ' '))?.[1] ?? '')
    .replace(/\?=\s+=\?/g, '?==?')
    .replace(/=\?UTF-8\?Q\?(.*?)\?=/gi, (_m, text: string) => qp(text.replace(/_/g, ' ')));
  return { subject, body: qp(rest.join('\r\n\r\n').replace(/=\r\n/g, '')) };
}
