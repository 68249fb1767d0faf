/** The admin layer records every change through the shared audit service (the bot and CLI use it too). */
export { recordAudit, type AuditActor, type AuditContext, type AuditRecord } from '../app/audit.js';
