//! The in-memory object store: one global resourceVersion counter, objects keyed by
//! (storage, namespace, name), the write rules of the Kubernetes API conventions, and a
//! bounded history of watch events.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use base64::Engine as _;
use serde_json::{json, Map, Value};
use tokio::sync::broadcast;

use super::events;
use super::resources::{ApiError, Resource};

/// How many watch events are kept for watches that resume from an older resourceVersion.
pub const HISTORY_LIMIT: usize = 1000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One change, as kept in the history and broadcast to live watches.
#[derive(Debug)]
pub struct Record {
    pub rv: u64,
    pub storage: &'static str,
    pub namespace: String,
    pub event: EventType,
    /// The object after the change (for DELETED: its last state, with the deletion's resourceVersion).
    pub object: Value,
    /// The object before a MODIFIED change, so that filtered watches can turn a change that
    /// moves an object into or out of their selector into ADDED or DELETED.
    pub old: Option<Value>,
}

type Key = (&'static str, String, String);

/// Everything the server keeps, behind one mutex.
pub struct Store {
    rv: u64,
    /// Watches may resume from a resourceVersion >= `floor`; older ones get 410 Expired.
    floor: u64,
    objects: BTreeMap<Key, Value>,
    history: VecDeque<Arc<Record>>,
    tx: broadcast::Sender<Arc<Record>>,
    pub log: Vec<String>,
}

pub fn now_rfc3339() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn new_uid() -> String {
    let hex: String = (0..32)
        .map(|_| format!("{:x}", fastrand::u8(0..16)))
        .collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

fn meta(obj: &Value) -> &Value {
    obj.get("metadata").unwrap_or(&Value::Null)
}

fn meta_mut(obj: &mut Value) -> &mut Map<String, Value> {
    if !obj["metadata"].is_object() {
        obj["metadata"] = json!({});
    }
    obj["metadata"]
        .as_object_mut()
        .expect("metadata is an object")
}

fn meta_str<'a>(obj: &'a Value, field: &str) -> Option<&'a str> {
    meta(obj)
        .get(field)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

pub fn resource_version(obj: &Value) -> Option<&str> {
    meta_str(obj, "resourceVersion")
}

fn finalizers(obj: &Value) -> Vec<String> {
    meta(obj)
        .get("finalizers")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// Drops `null`s everywhere and empty metadata collections, as Go's `omitempty` does, so that
/// the stored form is canonical and "nothing changed" is a plain equality.
fn normalize(value: &mut Value) {
    fn drop_nulls(v: &mut Value) {
        match v {
            Value::Object(map) => {
                map.retain(|_, v| !v.is_null());
                map.values_mut().for_each(drop_nulls);
            }
            Value::Array(items) => items.iter_mut().for_each(drop_nulls),
            _ => {}
        }
    }
    drop_nulls(value);
    let meta = meta_mut(value);
    for field in [
        "labels",
        "annotations",
        "finalizers",
        "ownerReferences",
        "managedFields",
    ] {
        let empty = match meta.get(field) {
            Some(Value::Array(a)) => a.is_empty(),
            Some(Value::Object(o)) => o.is_empty(),
            _ => false,
        };
        if empty || field == "managedFields" {
            meta.remove(field);
        }
    }
    meta.remove("selfLink");
}

/// Secrets: `stringData` is merged into `data` (base64) and dropped; `data` must be base64.
fn secret_rules(obj: &mut Value) -> Result<(), String> {
    let engine = base64::engine::general_purpose::STANDARD;
    let string_data = obj.as_object_mut().and_then(|o| o.remove("stringData"));
    if let Some(data) = obj.get("data").and_then(Value::as_object) {
        for (key, value) in data {
            let text = value
                .as_str()
                .ok_or_else(|| format!("data[{key}]: not a string"))?;
            engine
                .decode(text)
                .map_err(|e| format!("data[{key}]: illegal base64 data: {e}"))?;
        }
    }
    if let Some(Value::Object(string_data)) = string_data {
        if !obj["data"].is_object() {
            obj["data"] = json!({});
        }
        for (key, value) in string_data {
            let text = value
                .as_str()
                .ok_or_else(|| format!("stringData[{key}]: not a string"))?;
            obj["data"][key] = json!(engine.encode(text));
        }
    }
    if obj.get("type").is_none() {
        obj["type"] = json!("Opaque");
    }
    Ok(())
}

/// Everything but `metadata` and `status`: what `generation` tracks.
fn spec_part(obj: &Value) -> Value {
    let mut rest = obj.clone();
    if let Some(map) = rest.as_object_mut() {
        map.remove("metadata");
        map.remove("status");
    }
    rest
}

impl Store {
    pub fn new() -> Store {
        Store {
            rv: 1,
            floor: 0,
            objects: BTreeMap::new(),
            history: VecDeque::new(),
            tx: broadcast::channel(4096).0,
            log: Vec::new(),
        }
    }

    pub fn current_rv(&self) -> u64 {
        self.rv
    }

    pub fn floor(&self) -> u64 {
        self.floor
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Record>> {
        self.tx.subscribe()
    }

    /// History records after `rv`, or `None` if some of them were already dropped.
    pub fn since(&self, rv: u64) -> Option<Vec<Arc<Record>>> {
        if rv < self.floor {
            return None;
        }
        Some(self.history.iter().filter(|r| r.rv > rv).cloned().collect())
    }

    /// Forgets the whole history, as an etcd compaction does: watches resuming from any
    /// resourceVersion seen so far get 410 Expired. The counter moves on so that a fresh list
    /// returns a resourceVersion that is still watchable.
    pub fn compact(&mut self) {
        self.rv += 1;
        self.floor = self.rv;
        self.history.clear();
    }

    pub fn get(&self, res: &Resource, ns: &str, name: &str) -> Option<&Value> {
        self.objects
            .get(&(res.storage, ns.to_string(), name.to_string()))
    }

    /// Objects of `res` in `ns` (all namespaces for `None`), ordered by namespace and name.
    pub fn list(&self, res: &Resource, ns: Option<&str>) -> Vec<Value> {
        self.objects
            .iter()
            .filter(|((storage, namespace, _), _)| {
                *storage == res.storage && ns.is_none_or(|n| n == namespace)
            })
            .map(|(_, v)| v.clone())
            .collect()
    }

    fn commit(
        &mut self,
        res: &Resource,
        ns: &str,
        event: EventType,
        mut object: Value,
        old: Option<Value>,
    ) -> Value {
        self.rv += 1;
        meta_mut(&mut object).insert("resourceVersion".into(), json!(self.rv.to_string()));
        let name = meta_str(&object, "name").unwrap_or_default().to_string();
        let key = (res.storage, ns.to_string(), name);
        if event == EventType::Deleted {
            self.objects.remove(&key);
        } else {
            self.objects.insert(key, object.clone());
        }
        let record = Arc::new(Record {
            rv: self.rv,
            storage: res.storage,
            namespace: ns.to_string(),
            event,
            object: object.clone(),
            old,
        });
        if self.history.len() >= HISTORY_LIMIT {
            if let Some(dropped) = self.history.pop_front() {
                self.floor = dropped.rv;
            }
        }
        self.history.push_back(record.clone());
        // No live watch is not an error.
        let _ = self.tx.send(record);
        object
    }

    /// POST: a new object.
    pub fn create(
        &mut self,
        res: &Resource,
        ns: &str,
        mut obj: Value,
        dry_run: bool,
    ) -> Result<Value, ApiError> {
        if !obj.is_object() {
            return Err(ApiError::bad_request(
                "the body of the request is not a JSON object",
            ));
        }
        check_type(res, &obj)?;
        obj["apiVersion"] = json!(res.api_version());
        obj["kind"] = json!(res.kind);
        let name = match (meta_str(&obj, "name"), meta_str(&obj, "generateName")) {
            (Some(name), _) => name.to_string(),
            (None, Some(prefix)) => {
                let suffix: String = (0..5)
                    .map(|_| fastrand::alphanumeric().to_ascii_lowercase())
                    .collect();
                format!("{prefix}{suffix}")
            }
            (None, None) => {
                return Err(ApiError::invalid(
                    res,
                    "",
                    "metadata.name: Required value: name or generateName is required",
                ))
            }
        };
        if let Some(body_ns) = meta_str(&obj, "namespace") {
            if res.namespaced && body_ns != ns {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
        }
        if resource_version(&obj).is_some() {
            return Err(ApiError::bad_request(
                "resourceVersion should not be set on objects to be created",
            ));
        }
        if self.get(res, ns, &name).is_some() {
            return Err(ApiError::already_exists(res, &name));
        }
        if res.storage == "secrets" {
            secret_rules(&mut obj).map_err(|e| ApiError::invalid(res, &name, e))?;
        }
        if res.status {
            // Status is written through /status only (the CRD strategy drops it on create).
            obj.as_object_mut().expect("object").remove("status");
        }
        let meta = meta_mut(&mut obj);
        meta.insert("name".into(), json!(name));
        if res.namespaced {
            meta.insert("namespace".into(), json!(ns));
        } else {
            meta.remove("namespace");
        }
        meta.insert("uid".into(), json!(new_uid()));
        meta.insert("creationTimestamp".into(), json!(now_rfc3339()));
        for field in [
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "generation",
        ] {
            meta.remove(field);
        }
        if res.generation {
            meta.insert("generation".into(), json!(1));
        }
        normalize(&mut obj);
        if res.group == "events.k8s.io" {
            events::validate_create(&obj).map_err(|e| ApiError::invalid(res, &name, e))?;
        }
        if dry_run {
            return Ok(obj);
        }
        Ok(self.commit(res, ns, EventType::Added, obj, None))
    }

    /// PUT (and the second half of PATCH): `new` replaces the object, or only its status.
    pub fn update(
        &mut self,
        res: &Resource,
        ns: &str,
        name: &str,
        mut new: Value,
        status_only: bool,
        dry_run: bool,
    ) -> Result<Value, ApiError> {
        let old = self
            .get(res, ns, name)
            .cloned()
            .ok_or_else(|| ApiError::not_found(res, name))?;
        if !new.is_object() {
            return Err(ApiError::bad_request(
                "the body of the request is not a JSON object",
            ));
        }
        check_type(res, &new)?;
        if let Some(rv) = resource_version(&new) {
            if Some(rv) != resource_version(&old) {
                return Err(ApiError::conflict(res, name));
            }
        }
        match meta_str(&new, "name") {
            Some(body_name) if body_name != name => {
                return Err(ApiError::bad_request(format!(
                "the name of the object ({body_name}) does not match the name on the URL ({name})"
            )))
            }
            _ => {}
        }
        if let Some(body_ns) = meta_str(&new, "namespace") {
            if res.namespaced && body_ns != ns {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
        }
        let mut candidate = if status_only {
            // Writes to /status change nothing but .status.
            let mut candidate = old.clone();
            match new.get("status") {
                Some(status) => candidate["status"] = status.clone(),
                None => {
                    candidate.as_object_mut().expect("object").remove("status");
                }
            }
            candidate
        } else {
            if res.status {
                // Writes to the main resource keep the stored .status.
                match old.get("status") {
                    Some(status) => new["status"] = status.clone(),
                    None => {
                        new.as_object_mut().expect("object").remove("status");
                    }
                }
            }
            new["apiVersion"] = old["apiVersion"].clone();
            new["kind"] = old["kind"].clone();
            let old_meta = meta(&old).clone();
            let meta = meta_mut(&mut new);
            for field in [
                "name",
                "namespace",
                "uid",
                "creationTimestamp",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
                "generation",
            ] {
                match old_meta.get(field) {
                    Some(v) => meta.insert(field.into(), v.clone()),
                    None => meta.remove(field),
                };
            }
            if res.storage == "secrets" {
                secret_rules(&mut new).map_err(|e| ApiError::invalid(res, name, e))?;
            }
            if meta_str(&old, "deletionTimestamp").is_some() {
                let before = finalizers(&old);
                let added: Vec<String> = finalizers(&new)
                    .into_iter()
                    .filter(|f| !before.contains(f))
                    .collect();
                if !added.is_empty() {
                    return Err(ApiError::invalid(
                        res,
                        name,
                        format!(
                            "metadata.finalizers: Forbidden: no new finalizers can be added if the object \
                             is being deleted, found new finalizers {added:?}"
                        ),
                    ));
                }
            }
            new
        };
        meta_mut(&mut candidate).insert(
            "resourceVersion".into(),
            old["metadata"]["resourceVersion"].clone(),
        );
        normalize(&mut candidate);
        if res.generation && !status_only && spec_part(&candidate) != spec_part(&old) {
            let generation = meta(&old)
                .get("generation")
                .and_then(Value::as_i64)
                .unwrap_or(0);
            meta_mut(&mut candidate).insert("generation".into(), json!(generation + 1));
        }
        if res.group == "events.k8s.io" {
            events::validate_update(&candidate, &old)
                .map_err(|e| ApiError::invalid(res, name, e))?;
        }
        if candidate == old {
            // A no-op write: no new resourceVersion, no watch event.
            return Ok(old);
        }
        if dry_run {
            return Ok(candidate);
        }
        if meta_str(&candidate, "deletionTimestamp").is_some() && finalizers(&candidate).is_empty()
        {
            return Ok(self.commit(res, ns, EventType::Deleted, candidate, None));
        }
        Ok(self.commit(res, ns, EventType::Modified, candidate, Some(old)))
    }

    /// DELETE: marks an object with finalizers, removes one without.
    pub fn delete(
        &mut self,
        res: &Resource,
        ns: &str,
        name: &str,
        options: &Value,
        dry_run: bool,
    ) -> Result<Value, ApiError> {
        let old = self
            .get(res, ns, name)
            .cloned()
            .ok_or_else(|| ApiError::not_found(res, name))?;
        let preconditions = options.get("preconditions").unwrap_or(&Value::Null);
        if let Some(uid) = preconditions.get("uid").and_then(Value::as_str) {
            if Some(uid) != meta_str(&old, "uid") {
                return Err(ApiError::conflict(res, name));
            }
        }
        if let Some(rv) = preconditions.get("resourceVersion").and_then(Value::as_str) {
            if Some(rv) != resource_version(&old) {
                return Err(ApiError::conflict(res, name));
            }
        }
        if finalizers(&old).is_empty() {
            if dry_run {
                return Ok(old);
            }
            return Ok(self.commit(res, ns, EventType::Deleted, old, None));
        }
        if meta_str(&old, "deletionTimestamp").is_some() {
            // Already being deleted: nothing changes.
            return Ok(old);
        }
        let mut marked = old.clone();
        let meta = meta_mut(&mut marked);
        meta.insert("deletionTimestamp".into(), json!(now_rfc3339()));
        meta.insert("deletionGracePeriodSeconds".into(), json!(0));
        // Kubernetes' markAsDeleting bumps a tracked generation when it sets deletionTimestamp.
        if let Some(generation) = meta.get("generation").and_then(Value::as_i64) {
            meta.insert("generation".into(), json!(generation + 1));
        }
        if dry_run {
            return Ok(marked);
        }
        Ok(self.commit(res, ns, EventType::Modified, marked, Some(old)))
    }
}

/// A body's `apiVersion`/`kind`, when given, must name the resource of the URL.
fn check_type(res: &Resource, obj: &Value) -> Result<(), ApiError> {
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
    let api_version = obj.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    // Events are the same objects under two groups; either apiVersion may be written to either.
    let events =
        res.storage == "events" && (api_version == "v1" || api_version == "events.k8s.io/v1");
    if (!kind.is_empty() && kind != res.kind)
        || (!api_version.is_empty() && api_version != res.api_version() && !events)
    {
        return Err(ApiError::bad_request(format!(
            "the API version in the data ({api_version}) does not match the expected API version ({}), \
             or the kind ({kind}) does not match {}",
            res.api_version(),
            res.kind
        )));
    }
    Ok(())
}
