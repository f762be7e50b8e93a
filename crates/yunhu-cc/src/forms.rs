//! The customer form of the agent desk: CRM custom fields defined per tenant or project, the
//! customer record a call pops (made from the task's number or the agent's own customer the
//! first time it is popped), and the submit that stores the values and ends after-call work.

use crate::secrets::new_stream_id;
use crate::{CcError, Services, TenantId};
use serde_json::{Map, Value};
pub use yunhu_store::desk::{CrmField, CustomerForm};

/// Field kinds the form knows.
pub const FIELD_KINDS: [&str; 5] = ["text", "long_text", "select", "multi_select", "checkbox"];
/// Longest value of a text field, and of a long-text field (characters).
const TEXT_MAX: usize = 500;
const LONG_TEXT_MAX: usize = 10_000;

impl Services {
    /// The CRM fields of a project's form (tenant-wide ones first).
    pub async fn crm_fields(&self, tenant: TenantId, project: &str) -> Result<Vec<CrmField>, CcError> {
        Ok(self.db.crm_fields(tenant, project).await?)
    }

    /// Replaces the CRM fields of a project ('' = every project).
    pub async fn put_crm_fields(&self, tenant: TenantId, project: &str, fields: &[CrmField]) -> Result<(), CcError> {
        let mut seen = std::collections::HashSet::new();
        for f in fields {
            let name = f.name.trim();
            if name.is_empty() || name.chars().count() > 64 || !seen.insert(name) {
                return Err(CcError::Invalid(format!("field {:?}: a unique name of 1-64 characters", f.name)));
            }
            if !FIELD_KINDS.contains(&f.kind.as_str()) {
                return Err(CcError::Invalid(format!("field {name}: kind is one of {}", FIELD_KINDS.join(", "))));
            }
            let choices = matches!(f.kind.as_str(), "select" | "multi_select" | "checkbox");
            if choices == f.options.is_empty() {
                return Err(CcError::Invalid(format!(
                    "field {name}: {} options",
                    if choices { "needs" } else { "takes no" }
                )));
            }
        }
        let live_project = |row: Option<(yunhu_store::Row, bool)>| row.is_some_and(|(_, deleted)| !deleted);
        if !project.is_empty()
            && !live_project(self.db.get_row(tenant, &yunhu_store::directory::PROJECTS, &[project.into()]).await?)
        {
            return Err(CcError::NotFound(format!("project {project}")));
        }
        Ok(self.db.put_crm_fields(tenant, project, fields).await?)
    }

    /// The customer record of the number `peer` on call `call_id` of agent `staff`: the task's
    /// number when the call belongs to a task, else the agent's own customer (AddCBaseData), made
    /// the first time it is popped.
    pub async fn customer_form_for_call(
        &self,
        tenant: TenantId,
        staff: &str,
        call_id: &str,
        peer: &str,
    ) -> Result<CustomerForm, CcError> {
        let (task_id, project, imported_at, name) = match self.db.call_task_number(tenant, call_id, peer).await? {
            Some((task, project, at)) => (task, project, at, String::new()),
            None => match self.db.staff_customer(tenant, staff, peer).await? {
                Some((name, at)) => (0, String::new(), at, name),
                None => (0, String::new(), self.now_ms(), String::new()),
            },
        };
        let new = CustomerForm {
            uuid: uuid_like(),
            task_id,
            project,
            telephone: peer.to_string(),
            name,
            group: "default".into(),
            fields: "{}".into(),
            status: 0,
            owner: if task_id == 0 { staff.to_string() } else { String::new() },
            imported_at,
            edited_at: None,
        };
        Ok(self.db.customer_form_for(tenant, &new).await?)
    }

    /// A customer record by its uuid, within the tenant.
    pub async fn customer_form(&self, tenant: TenantId, uuid: &str) -> Result<CustomerForm, CcError> {
        self.db.customer_form(tenant, uuid).await?.ok_or_else(|| CcError::NotFound(format!("customer record {uuid}")))
    }

    /// Stores the values an agent submitted on a customer record, checked against the form's
    /// fields, and ends the agent's after-call work. `fields` is a JSON object.
    pub async fn submit_customer_form(
        &self,
        tenant: TenantId,
        staff: &str,
        uuid: &str,
        fields: &str,
    ) -> Result<(), CcError> {
        let form = self.customer_form(tenant, uuid).await?;
        let defs = self.crm_fields(tenant, &form.project).await?;
        let values = check_values(&defs, fields)?;
        let stored = serde_json::to_string(&values).map_err(|e| CcError::Invalid(e.to_string()))?;
        self.db.submit_customer_form(tenant, uuid, &stored, staff, self.now_ms()).await?;
        self.end_wrap_up(tenant, staff).await?;
        Ok(())
    }
}

/// Checks submitted values against the field definitions: known names, values of the kind's
/// shape, choices among the options, required fields filled. Returns them in the form's order.
pub fn check_values(defs: &[CrmField], fields: &str) -> Result<Map<String, Value>, CcError> {
    let given: Map<String, Value> = serde_json::from_str(fields)
        .map_err(|_| CcError::Invalid("fields must be a JSON object of field name to value".into()))?;
    if let Some(unknown) = given.keys().find(|k| !defs.iter().any(|d| &d.name == *k)) {
        return Err(CcError::Invalid(format!("no field named {unknown:?} on this form")));
    }
    let mut out = Map::new();
    for d in defs {
        let value = given.get(&d.name).cloned().unwrap_or(Value::Null);
        let empty = match &value {
            Value::Null => true,
            Value::String(s) => s.is_empty(),
            Value::Array(a) => a.is_empty(),
            _ => false,
        };
        if empty {
            if d.required {
                return Err(CcError::Invalid(format!("field {} is required", d.name)));
            }
            continue;
        }
        let bad = |what: &str| CcError::Invalid(format!("field {}: {what}", d.name));
        match d.kind.as_str() {
            "text" | "long_text" => {
                let max = if d.kind == "text" { TEXT_MAX } else { LONG_TEXT_MAX };
                let Value::String(s) = &value else { return Err(bad("a text value")) };
                if s.chars().count() > max {
                    return Err(bad(&format!("at most {max} characters")));
                }
            }
            "select" => {
                let Value::String(s) = &value else { return Err(bad("one of its options")) };
                if !d.options.contains(s) {
                    return Err(bad(&format!("{s:?} is not one of its options")));
                }
            }
            _ => {
                let Value::Array(items) = &value else { return Err(bad("a list of its options")) };
                for item in items {
                    if !item.as_str().is_some_and(|s| d.options.iter().any(|o| o == s)) {
                        return Err(bad(&format!("{item} is not one of its options")));
                    }
                }
            }
        }
        out.insert(d.name.clone(), value);
    }
    Ok(out)
}

/// A random id in the 8-4-4-4-12 shape of the seed's `uuid`.
fn uuid_like() -> String {
    let h = new_stream_id();
    format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defs() -> Vec<CrmField> {
        let f = |name: &str, kind: &str, options: &[&str], required| CrmField {
            name: name.into(),
            kind: kind.into(),
            options: options.iter().map(|s| s.to_string()).collect(),
            required,
        };
        vec![
            f("年龄", "text", &[], true),
            f("长文本", "long_text", &[], false),
            f("下拉框", "select", &["1", "2", "3"], false),
            f("多选2", "multi_select", &["张三", "李四"], false),
            f("多选框", "checkbox", &["11", "12"], false),
        ]
    }

    #[test]
    fn the_seeds_example_values_pass_and_keep_the_forms_order() {
        let v =
            check_values(&defs(), r#"{"多选框":["11"],"年龄":"39","多选2":["张三","李四"],"下拉框":"3","长文本":""}"#)
                .unwrap();
        let keys: Vec<&str> = v.keys().map(String::as_str).collect();
        assert_eq!(keys, ["年龄", "下拉框", "多选2", "多选框"]);
    }

    #[test]
    fn bad_values_are_refused_with_the_field_named() {
        for (fields, says) in [
            (r#"{"下拉框":"3"}"#, "年龄 is required"),
            (r#"{"年龄":"1","下拉框":"9"}"#, "\"9\" is not one of its options"),
            (r#"{"年龄":"1","多选2":"张三"}"#, "a list of its options"),
            (r#"{"年龄":"1","多选框":["13"]}"#, "not one of its options"),
            (r#"{"年龄":"1","性别":"男"}"#, "no field named \"性别\""),
            (r#"{"年龄":5}"#, "a text value"),
            ("[1]", "must be a JSON object"),
        ] {
            let e = check_values(&defs(), fields).unwrap_err().to_string();
            assert!(e.contains(says), "{fields}: {e}");
        }
        let long = format!(r#"{{"年龄":"{}"}}"#, "x".repeat(501));
        assert!(check_values(&defs(), &long).unwrap_err().to_string().contains("at most 500"));
    }

    #[test]
    fn uuids_have_the_seeds_shape() {
        let u = uuid_like();
        let parts: Vec<usize> = u.split('-').map(str::len).collect();
        assert_eq!(parts, [8, 4, 4, 4, 12]);
    }
}
