/** The longest header value core writes (UTF-16 units); longer texts are cut with a marker. */
export const maxHeaderValueLength = 2_048;

/**
 * A text made safe for a header value on every broker: CR and LF (which NATS refuses) and other
 * control characters are written as escapes (`\n`, `\r`, `\u0000`), and the result is cut at
 * `maxLength` without splitting a surrogate pair, ending with how much was cut. Never throws.
 */
export function safeHeaderValue(text: string, maxLength = maxHeaderValueLength): string {
  // eslint-disable-next-line no-control-regex
  const escaped = text.replace(/[\u0000-\u0008\u000a-\u001f\u007f]/g, (char) => {
    if (char === '\n') return '\\n';
    if (char === '\r') return '\\r';
    return `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`;
  });
  if (escaped.length <= maxLength) return escaped;
  const marker = ` …[${escaped.length - maxLength} more]`;
  let end = Math.max(0, maxLength - marker.length);
  const last = escaped.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end -= 1;
  return `${escaped.slice(0, end)}${marker}`;
}
