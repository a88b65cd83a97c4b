// The configuration rows a lead's fetch reads (its page, its workspace's deletion flag, the
// routes of its page and form, the form as stored) and those its delivery reads (the destination,
// the route, the form's questions), kept in memory by the App so a lead costs no statement for
// them. Kept exact, not for a while: every transaction that writes those tables
// bumps one counter (config_version, migration 0016) as it commits, and the fetch reads the
// counter with the lead's event. A counter newer than the one the entries were read under empties
// the cache first, so a route paused, a page disconnected or a workspace deleted is seen by the
// next lead whichever process made the change. Any other value empties it, an older one too (a
// job that read the counter before another job saw the change, or a database restored from a
// backup with its counter behind): entries belong to one counter value.
import type { Db } from '../store/db.js';
import * as repo from '../store/repos.js';
import type { Destination, Page, Route } from '../store/schema.js';
import { isWorkspaceBeingDeleted } from '../store/workspace-deletion.js';

/** A form as stored (forms.name, forms.questions); null when none is stored. */
export type StoredForm = { name: string | null; questions: unknown } | null;

/** Entries kept at most; past it the cache starts over (a bound, not an eviction policy: config rows are few). */
const MAX_ENTRIES = 10_000;

export class ConfigCache {
  #version = 0;
  readonly #entries = new Map<string, unknown>();

  /** The counter value the entries were read under (0: none seen yet). */
  get version(): number {
    return this.#version;
  }

  /** The page registered under this Facebook page id, if any. */
  page(db: Db, version: number, pageId: string): Promise<Page | undefined> {
    return this.#read(version, `page:${pageId}`, () => repo.findPageByPageId(db, pageId));
  }

  isWorkspaceBeingDeleted(db: Db, version: number, workspaceId: string): Promise<boolean> {
    return this.#read(version, `deleting:${workspaceId}`, () => isWorkspaceBeingDeleted(db, workspaceId));
  }

  /** The enabled routes of a page that take this form (repo.findRoutesFor). */
  routesFor(db: Db, version: number, workspaceId: string, pageId: string, formId: string | null): Promise<Route[]> {
    return this.#read(version, `routes:${workspaceId}:${pageId}:${formId ?? ''}`, () => repo.findRoutesFor(db, workspaceId, pageId, formId));
  }

  storedForm(db: Db, version: number, workspaceId: string, formId: string): Promise<StoredForm> {
    return this.#read(version, `form:${workspaceId}:${formId}`, async () => (await repo.findStoredForm(db, workspaceId, formId)) ?? null);
  }

  /** A destination by id (its status and rate-limit wait too: every write of it bumps the counter). */
  destination(db: Db, version: number, id: string): Promise<Destination | undefined> {
    return this.#read(version, `destination:${id}`, () => repo.findDestination(db, id));
  }

  /** A route by id. */
  route(db: Db, version: number, id: string): Promise<Route | undefined> {
    return this.#read(version, `route:${id}`, () => repo.findRoute(db, id));
  }

  /** The stored questions of a form (repo.findFormQuestions): null without a form or a stored list. */
  async formQuestions(db: Db, version: number, workspaceId: string, formId: string | null): Promise<unknown[] | null> {
    if (!formId) return null;
    const form = await this.storedForm(db, version, workspaceId, formId);
    return Array.isArray(form?.questions) ? (form.questions as unknown[]) : null;
  }

  async #read<T>(version: number, key: string, load: () => Promise<T>): Promise<T> {
    if (version !== this.#version) {
      this.#entries.clear();
      this.#version = version;
    }
    if (this.#entries.has(key)) return this.#entries.get(key) as T;
    const value = await load();
    // Kept only while the cache is still at the counter it was read under: a job that saw another
    // value meanwhile has emptied it, and this read may predate the change it was emptied for.
    if (version === this.#version) {
      if (this.#entries.size >= MAX_ENTRIES) this.#entries.clear();
      this.#entries.set(key, value);
    }
    return value;
  }
}
