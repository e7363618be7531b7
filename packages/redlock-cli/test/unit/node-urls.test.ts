import { describe, expect, it } from '@jest/globals';
import { ConfigurationError } from '../../src/input-errors.js';
import { parseNodeUrls, redactedUrl } from '../../src/node-urls.js';

describe('parseNodeUrls', () => {
  it('splits on commas, trims, skips empty entries and keeps the order', () => {
    expect(parseNodeUrls(' redis://b:6379, redis://a:6379,,redis://c ', '--nodes')).toEqual([
      'redis://b:6379',
      'redis://a:6379',
      'redis://c',
    ]);
  });

  it('accepts TLS, credentials, a database number and query options', () => {
    const urls = ['rediss://user:secret@a.example:6380/2', 'redis://:pw@10.0.0.2', 'redis://[::1]:6379/0?family=6'];
    expect(parseNodeUrls(urls.join(','), 'REDLOCK_NODES')).toEqual(urls);
  });

  it.each([
    ['', 'got none'],
    [' , ', 'got none'],
    ['localhost:6379', 'the scheme is localhost'],
    ['http://a:6379', 'the scheme is http'],
    ['redis://', 'no host'],
    ['redis://a:99999', 'not a URL'],
    ['redis://a:0', 'port 0'],
    ['redis://a:6379/x', 'the path must be a database number'],
    ['redis://a:6379#x', 'a #fragment'],
    ['a b', 'not a URL'],
  ])('refuses %j with a ConfigurationError (%s)', (list, why) => {
    expect(() => parseNodeUrls(list, '--nodes')).toThrow(ConfigurationError);
    expect(() => parseNodeUrls(list, '--nodes')).toThrow(why);
  });

  it.each([
    ['redis://a:6379,redis://a:6379', 'the same URL twice'],
    ['redis://a,redis://a:6379', 'the default port spelled out'],
    ['redis://A:6379,redis://a:6379/0', 'another case and database 0 spelled out'],
    ['redis://u:p@a:6379,redis://a:6379', 'credentials that differ'],
    ['redis://a:6379/1,redis://a:6379/2', 'two databases of one server, which fails as one'],
    ['redis://a:6379,rediss://a:6379', 'one port with and without TLS'],
    ['redis://a:7101,redis://a?port=7101', 'the port as a query option, which ioredis takes where the URL has none'],
    ['redis://a?path=/tmp/r.sock,redis://b?path=/tmp/r.sock', 'one Unix socket'],
  ])('refuses one node listed twice: %s (%s)', (list) => {
    expect(() => parseNodeUrls(list, '--nodes')).toThrow('one server would count as two nodes');
  });

  it('tells apart nodes on other hosts or ports', () => {
    expect(parseNodeUrls('redis://a:6379,redis://a:6380,redis://b:6379/1,rediss://c:6379', '--nodes')).toHaveLength(4);
    expect(parseNodeUrls('redis://a?port=7101,redis://a?port=7102,redis://a:7103?port=7101', '--nodes')).toHaveLength(3);
  });

  it('never shows a password in a message', () => {
    const attempt = (): unknown => parseNodeUrls('redis://:hunter2@a:6379,redis://:hunter2@a:6379', '--nodes');
    expect(attempt).toThrow(ConfigurationError);
    expect(attempt).not.toThrow(/hunter2/);
    expect(() => parseNodeUrls('http://u:hunter2@a', 'REDLOCK_NODES')).not.toThrow(/hunter2/);
    expect(() => parseNodeUrls('redis://u:hun ter2@a:1', 'REDLOCK_NODES')).not.toThrow(/hun ter2/);
  });
});

describe('parseNodeUrls on passwords it must not print', () => {
  it.each([
    ['redis://u:Ab3/x+Yz==@127.0.0.1:6379', 'Ab3'],
    ['redis://:p@ss#wq9rd@a:6379', 'wq9'],
    ['redis://:qx7,qx8@a:6379', 'qx7'],
    ['redis://a:6379?password=zq1,zq2', 'zq2'],
  ])('refuses %j without printing the password', (list, secret) => {
    let message = '';
    try {
      parseNodeUrls(list, 'REDLOCK_NODES');
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).not.toBe('');
    expect(message).not.toContain(secret);
  });

  it('refuses a malformed %-escape in the password, which the client would fail on when connecting', () => {
    expect(() => parseNodeUrls('redis://:100%@127.0.0.1:6379', '--nodes')).toThrow(/malformed %-escape/);
    expect(() => parseNodeUrls('redis://:100%25@127.0.0.1:6379', '--nodes')).not.toThrow();
  });
});

describe('redactedUrl', () => {
  it('replaces the password only', () => {
    expect(redactedUrl('redis://user:secret@a:6379/1')).toBe('redis://user:***@a:6379/1');
    expect(redactedUrl('redis://a:6379')).toBe('redis://a:6379');
    expect(redactedUrl('redis://u:se cret@a')).toBe('redis://u:***@a');
  });

  it.each([
    ['redis://a:6379?password=hunter2', 'redis://a:6379?password=***'],
    ['redis://a:6379/0?family=6&pass=hunter2', 'redis://a:6379/0?family=6&pass=***'],
    ['redis://a?sentinelPassword=hunter2&password=hunter2&password=hunter2', 'redis://a?sentinelPassword=***&password=***'],
    ['redis://a?pass%77ord=hunter2', 'redis://a?password=***'],
    ['rediss://u:hunter2@a:6380/2?password=hunter2', 'rediss://u:***@a:6380/2?password=***'],
    ['redis://a:6379?family=6&db=2', 'redis://a:6379?family=6&db=2'],
  ])('replaces the password given as a query option: %s', (url, redacted) => {
    expect(redactedUrl(url)).toBe(redacted);
  });

  it.each([
    ['redis://u:Ab3/x+Yz==@127.0.0.1:6379', 'redis://u:***@127.0.0.1:6379'],
    ['redis://:pa/ss@a:6379', 'redis://:***@a:6379'],
    ['redis://:p@ss#word@a:6379', 'redis://:***@a:6379'],
  ])('hides a password with a /, # or @ in it, which a URL parser splits: %s', (url, redacted) => {
    expect(redactedUrl(url)).toBe(redacted);
  });

  it('replaces passwords in text that is not a URL', () => {
    expect(redactedUrl('redis://u:hunter2@a:99999?password=hunter2&db=1')).toBe('redis://u:***@a:99999?password=***&db=1');
  });

  it('never lets a message of parseNodeUrls show a password given as a query option', () => {
    const attempt = (): unknown => parseNodeUrls('redis://a:6379?password=hunter2,redis://a:6379/0?pass=hunter2', '--nodes');
    expect(attempt).toThrow('one server would count as two nodes');
    expect(attempt).not.toThrow(/hunter2/);
    expect(() => parseNodeUrls('redis://a:99999?password=hunter2', '--nodes')).not.toThrow(/hunter2/);
  });
});
