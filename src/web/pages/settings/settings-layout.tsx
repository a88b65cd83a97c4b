// Settings: the sections the caller's role allows, each its own page (and URL).
import { Navigate, NavLink, Outlet } from 'react-router';
import { type Permission, useCurrentWorkspace } from '../../lib/session';

const SECTIONS: { to: string; label: string; permission?: Permission }[] = [
  { to: 'workspace', label: 'Workspace', permission: 'workspace.manage' },
  { to: 'connections', label: 'Connections', permission: 'config.write' },
  { to: 'alerts', label: 'Alerts', permission: 'config.read' },
  { to: 'members', label: 'Members', permission: 'members.manage' },
  { to: 'invitations', label: 'Invitations', permission: 'members.manage' },
  { to: 'api-keys', label: 'API keys', permission: 'keys.manage' },
  { to: 'audit', label: 'Audit log', permission: 'audit.read' },
  { to: 'mfa', label: 'Two-factor authentication' },
];

function useSections() {
  const { can } = useCurrentWorkspace();
  return SECTIONS.filter((s) => !s.permission || can(s.permission));
}

export function SettingsLayout() {
  const { workspace } = useCurrentWorkspace();
  const sections = useSections();
  return (
    <div className="settings">
      <div className="page-header">
        <h1 tabIndex={-1}>Settings</h1>
      </div>
      <nav aria-label="Settings" className="subnav">
        <ul>
          {sections.map((s) => (
            <li key={s.to}>
              <NavLink to={`/w/${workspace.id}/settings/${s.to}`} state={{ keepFocus: true }} className="subnav-link">
                {s.label}
              </NavLink>
            </li>
          ))}
        </ul>
      </nav>
      <div className="settings-page">
        <Outlet />
      </div>
    </div>
  );
}

export function SettingsIndex() {
  const sections = useSections();
  return <Navigate to={sections[0]!.to} replace />;
}

/** What a page shows a role that lacks its permission (the API refuses the calls anyway). */
export function NotAllowed({ what }: { what: string }) {
  const { workspace } = useCurrentWorkspace();
  return (
    <p className="alert alert-info">
      Your role here ({workspace.role}) cannot {what}. Ask an owner or admin of this workspace.
    </p>
  );
}
