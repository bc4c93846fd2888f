/**
 * Cursor paging of a batch task's finished rows (INFERRED, documented in `FiberAiApi`): the cursor is base64
 * `<taskId>:<offset>` into the rows in finish order; a page returning rows returns the position after them, an
 * empty page echoes the position (or `null`).
 */
import type { Row } from "./tasks.js"

export const encodeCursor = (taskId: string, offset: number): string => btoa(`${taskId}:${offset}`)

/** The offset a cursor points at, or undefined when it is not a cursor of this task. */
export const decodeCursor = (taskId: string, cursor: string): number | undefined => {
  try {
    const text = atob(cursor)
    const at = text.lastIndexOf(":")
    const offset = Number(text.slice(at + 1))
    return text.slice(0, at) === taskId && Number.isInteger(offset) && offset >= 0 ? offset : undefined
  } catch {
    return undefined
  }
}

export interface Page {
  readonly rows: ReadonlyArray<Row>
  readonly nextCursor: string | null
}

/** Up to `take` rows from `offset`, among the first `finished` rows of the task. */
export const pageOf = (
  task: { readonly id: string; readonly rows: ReadonlyArray<Row> },
  finished: number,
  cursor: string | null,
  offset: number,
  take: number
): Page => {
  const rows = task.rows.slice(Math.min(offset, finished), Math.min(offset + take, finished))
  return { rows, nextCursor: rows.length > 0 ? encodeCursor(task.id, offset + rows.length) : cursor }
}
