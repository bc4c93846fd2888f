/**
 * Every file the worker writes holds personal data: the ledger (and SQLite's WAL and shared-memory files beside
 * it), the output, its temp file. They are created readable by their owner only, as a mail client or a password
 * store would, whatever the shell's umask: other users of a shared machine must not read a list of people's
 * phone numbers.
 *
 * @since 0.1.0
 */

/**
 * Files created from now on by this process: owner read/write only (0600), directories 0700. Call it at start,
 * before any file is opened.
 *
 * @since 0.1.0 @category Runtime
 */
export const apply = (): void => {
  process.umask(0o077)
}
