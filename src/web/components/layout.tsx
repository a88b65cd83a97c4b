// The frames every page sits in: a centred card for signing in and setting up, and the app shell
// (top bar with the workspace switcher, main navigation, the page) for everything after. The
// shell works from 375 px up: below 48rem the navigation folds behind a Menu button.
import { useQueryClient } from '@tanstack/react-query';
import { type ReactNode, useEffect, useId, useRef, useState } from 'react';
import { Button } from 'react-aria-components';
import { Link, NavLink, useLocation, useNavigate } from 'react-router';
import { api, problemMessage, type Session } from '../api/client';
import { type CurrentWorkspace, resetForNewSession } from '../lib/session';
import { useDocumentTitle } from '../lib/use-document-title';
import { SelectField } from './form';
import { useToast } from './toast';

function Brand() {
  return (
    <Link to="/" className="brand">
      <svg aria-hidden="true" viewBox="0 0 32 32" width="28" height="28">
        <rect width="32" height="32" rx="7" fill="currentColor" />
        <path d="M9 8v16h14v-4H13V8z" fill="#fff" />
      </svg>
      <span>LeadRelay</span>
    </Link>
  );
}

/** A page with one task (sign in, set up, accept an invitation): a centred card. */
export function AuthLayout({ title, intro, children }: { title: string; intro?: ReactNode; children: ReactNode }) {
  useDocumentTitle(title);
  return (
    <div className="auth-page">
      <header className="auth-header">
        <Brand />
      </header>
      <main id="main" className="auth-card">
        <h1>{title}</h1>
        {intro && <div className="intro">{intro}</div>}
        {children}
      </main>
    </div>
  );
}

/** The page's title (focused after each navigation, so a screen reader announces the new page) and its lead. */
export function PageHeader({ title, intro, actions }: { title: string; intro?: ReactNode; actions?: ReactNode }) {
  useDocumentTitle(title);
  return (
    <div className="page-header">
      <div>
        <h1 tabIndex={-1}>{title}</h1>
        {intro && <p className="intro">{intro}</p>}
      </div>
      {actions && <div className="page-actions">{actions}</div>}
    </div>
  );
}

/** A section's title under a page's h1 (a settings section): names the tab as "Section · Page". */
export function SectionHeader({ title, page, intro }: { title: string; page: string; intro?: ReactNode }) {
  useDocumentTitle(`${title} · ${page}`);
  return (
    <div className="page-header">
      <div>
        <h2 className="section-title">{title}</h2>
        {intro && <p className="intro">{intro}</p>}
      </div>
    </div>
  );
}

/**
 * A table's scroll box: a wide table scrolls inside it, never the page. It is a focusable,
 * named region, so keyboard users can scroll it too.
 */
export function TableWrap({ label, children }: { label: string; children: ReactNode }) {
  return (
    // biome-ignore lint/a11y/noNoninteractiveTabindex: a scrollable region must take focus to be scrolled by keyboard (WCAG 2.1.1)
    <section className="table-wrap" aria-label={label} tabIndex={0}>
      {children}
    </section>
  );
}

export function Loading({ what }: { what: string }) {
  return (
    <p className="loading" role="status">
      Loading {what}…
    </p>
  );
}

/** A query that failed, in the server's words. */
export function LoadError({ error, what }: { error: unknown; what: string }) {
  return (
    <div className="alert alert-error" role="alert">
      <p className="alert-title">Could not load {what}.</p>
      <p>{problemMessage(error)}</p>
    </div>
  );
}

const MAIN_NAV = [
  { to: 'wizard', label: 'Setup wizard' },
  { to: 'leads', label: 'Lead log' },
  { to: 'health', label: 'Health' },
  { to: 'settings', label: 'Settings' },
];

function WorkspaceSwitcher({ session, current }: { session: Session; current: CurrentWorkspace }) {
  const navigate = useNavigate();
  const location = useLocation();
  return (
    <SelectField
      className="workspace-switcher"
      label="Workspace"
      isLabelHidden
      value={current.workspace.id}
      options={session.workspaces.map((w) => ({ id: w.id, label: w.name, description: w.role }))}
      onChange={(id) => {
        // The same section in the other workspace.
        const section = location.pathname.split('/')[3] ?? 'wizard';
        navigate(`/w/${id}/${section}`);
      }}
    />
  );
}

function useSignOut() {
  const queryClient = useQueryClient();
  const navigate = useNavigate();
  const toast = useToast();
  const signOut = api.useMutation('post', '/auth/sign-out');
  return {
    isPending: signOut.isPending,
    run: () =>
      signOut.mutate(
        {},
        {
          onSuccess: async () => {
            await resetForNewSession(queryClient);
            navigate('/sign-in');
          },
          onError: (e) => toast.failure(e),
        },
      ),
  };
}

/** The signed-in frame: top bar, navigation (the workspace's sections when in one), the page. */
export function AppShell({ session, workspace, children }: { session: Session; workspace?: CurrentWorkspace; children: ReactNode }) {
  const [menuOpen, setMenuOpen] = useState(false);
  const location = useLocation();
  const navId = useId();
  const main = useRef<HTMLElement>(null);
  const firstPath = useRef(location.pathname);
  const signOut = useSignOut();

  const keepFocus = (location.state as { keepFocus?: boolean } | null)?.keepFocus === true;
  useEffect(() => {
    setMenuOpen(false);
    if (location.pathname === firstPath.current) return;
    firstPath.current = '';
    // After a navigation, focus the new page's title so keyboard and screen reader users start
    // there; a sub-navigation (settings sections) keeps focus on the link, like tabs.
    if (!keepFocus) main.current?.querySelector<HTMLElement>('h1')?.focus();
  }, [location.pathname, keepFocus]);

  return (
    <div className="app">
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="topbar">
        <Brand />
        {workspace && <WorkspaceSwitcher session={session} current={workspace} />}
        <Button className="button menu-button" aria-expanded={menuOpen} aria-controls={navId} onPress={() => setMenuOpen((o) => !o)}>
          {menuOpen ? 'Close menu' : 'Menu'}
        </Button>
      </header>
      <div className="shell">
        <nav id={navId} aria-label="Main" className={`sidebar${menuOpen ? ' open' : ''}`}>
          {workspace && (
            <ul className="nav-list">
              {MAIN_NAV.map((item) => (
                <li key={item.to}>
                  <NavLink to={`/w/${workspace.workspace.id}/${item.to}`} className="nav-link">
                    {item.label}
                  </NavLink>
                </li>
              ))}
            </ul>
          )}
          <ul className="nav-list nav-secondary">
            <li>
              <NavLink to="/workspaces" end className="nav-link">
                All workspaces
              </NavLink>
            </li>
          </ul>
          <div className="who">
            <p>
              Signed in as <strong>{session.user.email}</strong>
              {workspace && <span className="role-badge">{workspace.workspace.role}</span>}
            </p>
            <Button className="button" onPress={signOut.run} isDisabled={signOut.isPending}>
              Sign out
            </Button>
          </div>
        </nav>
        <main id="main" ref={main} tabIndex={-1} className="content">
          {children}
        </main>
      </div>
    </div>
  );
}
