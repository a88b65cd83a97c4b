// What a log line may say about an error: its name, code and the start of its message. Never a
// stack with arguments, a request body or a response (they can carry secrets and lead answers).
export function errorSummary(err: unknown): { name?: string; code?: string; message?: string } {
  if (err instanceof Error) return { name: err.name, code: (err as { code?: string }).code, message: err.message.slice(0, 200) };
  return { message: String(err).slice(0, 200) };
}
