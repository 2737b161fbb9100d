/** True when NATS subject `subject` matches `pattern` (`*` one token, `>` one or more trailing tokens). */
export function subjectMatches(pattern: string, subject: string): boolean {
  const wanted = pattern.split('.');
  const tokens = subject.split('.');
  for (let i = 0; i < wanted.length; i += 1) {
    const part = wanted[i];
    if (part === '>') return tokens.length > i;
    if (i >= tokens.length) return false;
    if (part !== '*' && part !== tokens[i]) return false;
  }
  return tokens.length === wanted.length;
}
